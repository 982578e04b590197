# MESS Corrosion CS (Engineering): 44 test images, 4 classes as MESS names them
# (configs/classnames/cls_mess_corrosion_cs.txt; background class 0; classes of interest: all but the background);
# label 255 is ignored.
# MESS registers it as corrosion_cs_sem_seg_test.
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/Corrosion Condition State Classification'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='corrosion_cs', data_root=data_root,
                 data_prefix=dict(img_path='original/Test/images', seg_map_path='original/Test/masks'),
                 img_suffix='jpeg', seg_map_suffix='png'))
