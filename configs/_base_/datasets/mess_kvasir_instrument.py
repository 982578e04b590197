# MESS Kvasir-Instrument (Medical Sciences): 118 test images, 2 classes as MESS names them
# (configs/classnames/cls_mess_kvasir_instrument.txt; background class 0; classes of interest: all but the background);
# label 255 is ignored.
# MESS registers it as kvasir_instrument_sem_seg_test.
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/kvasir-instrument'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='kvasir_instrument', data_root=data_root,
                 data_prefix=dict(img_path='images_detectron2/test', seg_map_path='annotations_detectron2/test'),
                 img_suffix='png', seg_map_suffix='png'))
