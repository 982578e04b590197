# ADE20K (ADEChallengeData2016) val: 150 classes, label 0 ("other") ignored (reduce_zero_label, the dataset
# default). 2,000 images. Data root: $SCLIP_DATA (default ./data).
# The test-time resize is a model setting (model.data_preprocessor.short_side); the pipeline only loads.
dataset_type = 'ADE20KDataset'
data_root = '{{$SCLIP_DATA:data}}/ade/ADEChallengeData2016'
test_pipeline = [
    dict(type='LoadImageChecked'),  # LoadImageFromFile with clear errors for corrupt files
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
                 pipeline=test_pipeline))
