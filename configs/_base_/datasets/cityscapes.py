# Cityscapes val: 19 classes (*_gtFine_labelTrainIds.png from mmseg's cityscapes.py converter), 500 images found
# recursively in the city folders. Data root: $SCLIP_DATA (default ./data).
# The test-time resize is a model setting (model.data_preprocessor.short_side); the pipeline only loads.
dataset_type = 'CityscapesDataset'
data_root = '{{$SCLIP_DATA:data}}/cityscapes'
test_pipeline = [
    dict(type='LoadImageChecked'),  # LoadImageFromFile with clear errors for corrupt files
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
                 pipeline=test_pipeline))
