# PASCAL Context val without background: 59 classes, label 0 ignored (reduce_zero_label, the dataset default).
# 5,105 images. Data root: $SCLIP_DATA (default ./data).
# The test-time resize is a model setting (model.data_preprocessor.short_side); the pipeline only loads.
dataset_type = 'PascalContext59Dataset'
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
