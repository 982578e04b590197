# MESS FoodSeg103 (General): 2,125 test images, 104 classes as MESS names them
# (configs/classnames/cls_mess_foodseg103.txt; background class 0; classes of interest: all but the background); label
# 255 is ignored.
# MESS registers it as foodseg103_sem_seg_test.
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/FoodSeg103'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='foodseg103', data_root=data_root,
                 data_prefix=dict(img_path='Images/img_dir/test', seg_map_path='Images/ann_dir/test'),
                 img_suffix='jpg', seg_map_suffix='png'))
