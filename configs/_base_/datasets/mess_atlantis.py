# MESS ATLANTIS (General): 1,295 test images, 56 classes as MESS names them
# (configs/classnames/cls_mess_atlantis.txt; no background class; classes of interest: all classes); label 255 is
# ignored.
# MESS registers it as atlantis_sem_seg_test.
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/atlantis'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='atlantis', data_root=data_root,
                 data_prefix=dict(img_path='images_detectron2/test', seg_map_path='annotations_detectron2/test'),
                 img_suffix='jpg', seg_map_suffix='png'))
