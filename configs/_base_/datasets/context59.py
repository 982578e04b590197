# PASCAL Context val without background: 59 classes, label 0 ignored (reduce_zero_label, the dataset default).
# 5,105 images. Data root: $SCLIP_DATA (default ./data).
_base_ = ['./_loader.py']
dataset_type = 'PascalContext59Dataset'
data_root = '{{$SCLIP_DATA:data}}/VOCdevkit/VOC2010'
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
                 ann_file='ImageSets/SegmentationContext/val.txt'))
