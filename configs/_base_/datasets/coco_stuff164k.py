# COCO-Stuff-164k val2017: 171 classes (*_labelTrainIds.png from mmseg's coco_stuff164k.py converter). 5,000 images.
# Data root: $SCLIP_DATA (default ./data).
_base_ = ['./_loader.py']
dataset_type = 'COCOStuffDataset'
data_root = '{{$SCLIP_DATA:data}}/coco_stuff164k'
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017')))
