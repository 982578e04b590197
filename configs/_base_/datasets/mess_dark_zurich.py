# MESS Dark Zurich (General): 50 test images, 20 classes as MESS names them
# (configs/classnames/cls_mess_dark_zurich.txt; background class 0; classes of interest: all but the background); label
# 255 is ignored.
# MESS registers it as dark_zurich_sem_seg_val.
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/Dark_Zurich'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='dark_zurich', data_root=data_root,
                 data_prefix=dict(img_path='rgb_anon/val/night/GOPR0356', seg_map_path='annotations_detectron2/val'),
                 img_suffix='_rgb_anon.png', seg_map_suffix='_gt_labelIds.png'))
