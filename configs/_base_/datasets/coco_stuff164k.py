# COCO-Stuff-164k val2017: 171 classes (*_labelTrainIds.png from mmseg's coco_stuff164k.py converter). 5,000 images.
# Data root: $SCLIP_DATA (default ./data).
# The test-time resize is a model setting (model.data_preprocessor.short_side); the pipeline only loads.
dataset_type = 'COCOStuffDataset'
data_root = '{{$SCLIP_DATA:data}}/coco_stuff164k'
test_pipeline = [
    dict(type='LoadImageChecked'),  # LoadImageFromFile with clear errors for corrupt files
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017'),
                 pipeline=test_pipeline))
