# PASCAL VOC 2012 val, 21 classes (0 = background). Data root: $SCLIP_DATA (default ./data).
# The test-time resize is a model setting (model.data_preprocessor.short_side), so that per-method and per-dataset
# configs can override it by dict merge; the pipeline only loads.
dataset_type = 'PascalVOCDataset'
data_root = '{{$SCLIP_DATA:data}}/VOCdevkit/VOC2012'
test_pipeline = [
    dict(type='LoadImageChecked'),  # LoadImageFromFile with clear errors for corrupt files
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/val.txt', pipeline=test_pipeline))
