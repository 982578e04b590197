# MESS PST900 (Engineering): 288 test images, 5 classes as MESS names them
# (configs/classnames/cls_mess_pst900.txt; background class 0; classes of interest: all but the background); label 255
# is ignored.
# MESS registers it as pst900_sem_seg_test. Thermal images, the variant MESS evaluates (MESS also registers RGB and
# pseudo-colour thermal).
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/PST900_RGBT_Dataset'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='pst900', data_root=data_root,
                 data_prefix=dict(img_path='test/thermal', seg_map_path='test/labels'),
                 img_suffix='png', seg_map_suffix='png'))
