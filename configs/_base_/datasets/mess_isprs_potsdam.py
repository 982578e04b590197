# MESS ISPRS Potsdam (Earth Monitoring): 504 test images, 6 classes as MESS names them
# (configs/classnames/cls_mess_isprs_potsdam.txt; background class 5; classes of interest: all but the background);
# label 255 is ignored.
# MESS registers it as isprs_potsdam_sem_seg_test_irrg. IRRG images (near infrared, red, green), the variant MESS
# evaluates (MESS also registers RGB).
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/ISPRS_Potsdam'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='isprs_potsdam', data_root=data_root,
                 data_prefix=dict(img_path='images_detectron2/test/irrg', seg_map_path='annotations_detectron2/test'),
                 img_suffix='png', seg_map_suffix='png'))
