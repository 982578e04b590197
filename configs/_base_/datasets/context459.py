# PASCAL Context val with all 459 classes, CAT-Seg's pc459_val uint16 .tif maps, loaded with LoadAnnotationsU16
# (mmseg's loader would wrap labels above 255). 5,105 images. Note (docs/methods.md, "Where the references
# differ"): the metric's ignore index stays 255 as in the references, so class 255 is not scored. Data root: $SCLIP_DATA (default ./data).
_base_ = ['./_loader.py']
dataset_type = 'PascalContext459Dataset'
data_root = '{{$SCLIP_DATA:data}}/VOCdevkit/VOC2010'
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='annotations_detectron2/pc459_val'),
                 ann_file='ImageSets/SegmentationContext/val.txt',
                 pipeline=[dict(type='LoadImageChecked'), dict(type='LoadAnnotationsU16'),
                           dict(type='PackSegInputs')]))
