# MESS CWFID (Agriculture and Biology): 21 test images, 3 classes as MESS names them
# (configs/classnames/cls_mess_cwfid.txt; background class 0; classes of interest: all but the background); label 255
# is ignored.
# MESS registers it as cwfid_sem_seg_test.
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/cwfid'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='cwfid', data_root=data_root,
                 data_prefix=dict(img_path='images', seg_map_path='annotations_detectron2/test'),
                 img_suffix='image.png', seg_map_suffix='annotation.png'))
