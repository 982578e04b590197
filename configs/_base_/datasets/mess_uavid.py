# MESS UAVid (Earth Monitoring): 840 test images, 8 classes as MESS names them
# (configs/classnames/cls_mess_uavid.txt; background class 0; classes of interest: all but the background); label 255
# is ignored.
# MESS registers it as uavid_sem_seg_val.
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/uavid_v1.5'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='uavid', data_root=data_root,
                 data_prefix=dict(img_path='images_detectron2/val', seg_map_path='annotations_detectron2/val'),
                 img_suffix='png', seg_map_suffix='png'))
