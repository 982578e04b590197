# MESS FloodNet (Earth Monitoring): 5,571 test images, 10 classes as MESS names them
# (configs/classnames/cls_mess_floodnet.txt; background class 0; classes of interest: the flooded classes 1 and 3);
# label 255 is ignored.
# MESS registers it as floodnet_sem_seg_test.
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/FloodNet-Supervised_v1.0'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='floodnet', data_root=data_root,
                 data_prefix=dict(img_path='images_detectron2/test', seg_map_path='annotations_detectron2/test'),
                 img_suffix='.jpg', seg_map_suffix='.png'))
