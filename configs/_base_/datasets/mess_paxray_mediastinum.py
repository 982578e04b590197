# MESS PAXRay-Mediastinum (Medical Sciences): 180 test images, 2 classes as MESS names them
# (configs/classnames/cls_mess_paxray_mediastinum.txt; background class 0; classes of interest: all but the
# background); label 255 is ignored.
# MESS registers it as paxray_sem_seg_test_mediastinum. One of PAXRay's four binary subsets (all on the same 180
# X-rays); MESS reports PAXRay-4, their mean.
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/paxray_dataset'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='paxray_mediastinum', data_root=data_root,
                 data_prefix=dict(img_path='images_detectron2/test',
                                  seg_map_path='annotations_detectron2/test/mediastinum'),
                 img_suffix='png', seg_map_suffix='png'))
