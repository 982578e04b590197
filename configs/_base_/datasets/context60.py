# PASCAL Context val with background: 60 classes (0 = background, scored). 5,105 images; masks from mmseg's
# pascal_context.py converter. Data root: $SCLIP_DATA (default ./data).
_base_ = ['./_loader.py']
dataset_type = 'PascalContext60Dataset'
data_root = '{{$SCLIP_DATA:data}}/VOCdevkit/VOC2010'
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
                 ann_file='ImageSets/SegmentationContext/val.txt'))
