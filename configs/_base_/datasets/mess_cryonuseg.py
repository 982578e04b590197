# MESS CryoNuSeg (Medical Sciences): 30 test images, 2 classes as MESS names them
# (configs/classnames/cls_mess_cryonuseg.txt; background class 0; classes of interest: all but the background); label
# 255 is ignored.
# MESS registers it as cryonuseg_sem_seg_test.
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/CryoNuSeg'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='cryonuseg', data_root=data_root,
                 data_prefix=dict(img_path='images_detectron2', seg_map_path='annotations_detectron2'),
                 img_suffix='png', seg_map_suffix='png'))
