# ADE20K-Full val with 847 classes, CAT-Seg's detectron2 layout: uint16 .tif label maps, loaded with
# LoadAnnotationsU16 (mmseg's loader would wrap labels above 255). 2,000 images; with ann_file='' every image of the
# folder is used (ProxyCLIP reads a validation.txt list; set ann_file='validation.txt' to do the same).
# Note (docs/methods.md, "Where the references differ"): the metric's ignore index stays 255 as in the references,
# so class 255 ('pier') is not scored and the unlabelled value 65535 is not ignored. Data root: $SCLIP_DATA (default ./data).
_base_ = ['./_loader.py']
dataset_type = 'ADE20K847Dataset'
data_root = '{{$SCLIP_DATA:data}}/ADE20K_2021_17_01'
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images_detectron2/validation',
                                  seg_map_path='annotations_detectron2/validation'),
                 pipeline=[dict(type='LoadImageChecked'), dict(type='LoadAnnotationsU16'),
                           dict(type='PackSegInputs')]))
