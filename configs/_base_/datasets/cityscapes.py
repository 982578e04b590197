# Cityscapes val: 19 classes (*_gtFine_labelTrainIds.png from mmseg's cityscapes.py converter), 500 images found
# recursively in the city folders. Data root: $SCLIP_DATA (default ./data).
_base_ = ['./_loader.py']
dataset_type = 'CityscapesDataset'
data_root = '{{$SCLIP_DATA:data}}/cityscapes'
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')))
