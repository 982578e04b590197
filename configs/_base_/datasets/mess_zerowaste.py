# MESS ZeroWaste-f (Engineering): 929 test images, 5 classes as MESS names them
# (configs/classnames/cls_mess_zerowaste.txt; background class 0; classes of interest: all but the background); label
# 255 is ignored.
# MESS registers it as zerowaste_sem_seg_test.
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/zerowaste-f'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='zerowaste', data_root=data_root,
                 data_prefix=dict(img_path='splits_final_deblurred/test/data',
                                  seg_map_path='splits_final_deblurred/test/sem_seg'),
                 img_suffix='PNG', seg_map_suffix='PNG'))
