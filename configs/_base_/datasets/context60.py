# PASCAL Context val with background: 60 classes (0 = background, scored). 5,105 images; masks from mmseg's
# pascal_context.py converter. Data root: $SCLIP_DATA (default ./data).
# The test-time resize is a model setting (model.data_preprocessor.short_side); the pipeline only loads.
dataset_type = 'PascalContext60Dataset'
data_root = '{{$SCLIP_DATA:data}}/VOCdevkit/VOC2010'
test_pipeline = [
    dict(type='LoadImageChecked'),  # LoadImageFromFile with clear errors for corrupt files
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
                 ann_file='ImageSets/SegmentationContext/val.txt', pipeline=test_pipeline))
