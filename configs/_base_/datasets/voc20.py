# PASCAL VOC 2012 val without background: 20 classes, background pixels are ignored (reduce_zero_label).
# 1,449 images. Data root: $SCLIP_DATA (default ./data).
_base_ = ['./_loader.py']
dataset_type = 'PascalVOC20Dataset'
data_root = '{{$SCLIP_DATA:data}}/VOCdevkit/VOC2012'
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/val.txt'))
