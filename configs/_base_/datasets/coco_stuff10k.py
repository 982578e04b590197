# COCO-Stuff-10k test2014: 171 classes (mmseg's coco_stuff10k.py converter), 1,000 images. As in SCLIP's config
# (and mmseg's) label 0 is ignored and the rest shifted down (reduce_zero_label=True). Data root: $SCLIP_DATA.
_base_ = ['./_loader.py']
dataset_type = 'COCOStuffDataset'
data_root = '{{$SCLIP_DATA:data}}/coco_stuff10k'
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images/test2014', seg_map_path='annotations/test2014'),
                 reduce_zero_label=True))
