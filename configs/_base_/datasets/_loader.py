# The test loader every dataset base shares: one image per batch, in order, loaded without resizing (the test-time
# resize is a model setting, model.data_preprocessor.short_side, so method and dataset configs can override it).
test_pipeline = [
    dict(type='LoadImageChecked'),  # LoadImageFromFile with clear errors for corrupt or truncated files
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(pipeline=test_pipeline))
