# MESS WorldFloods (Earth Monitoring): 160 test images, 3 classes as MESS names them
# (configs/classnames/cls_mess_worldfloods.txt; background class 0; classes of interest: class 1 (water and flood));
# label 255 is ignored.
# MESS registers it as worldfloods_sem_seg_test_irrg. IRRG images (near infrared, red, green) made from the Sentinel-2
# bands, the variant MESS evaluates.
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/WorldFloods'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='worldfloods', data_root=data_root,
                 data_prefix=dict(img_path='images_detectron2/test/irrg', seg_map_path='annotations_detectron2/test'),
                 img_suffix='png', seg_map_suffix='png'))
