# PASCAL VOC 2012 val, 21 classes (0 = background). Data root: $SCLIP_DATA (default ./data).
_base_ = ['./_loader.py']
dataset_type = 'PascalVOCDataset'
data_root = '{{$SCLIP_DATA:data}}/VOCdevkit/VOC2012'
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/val.txt'))
