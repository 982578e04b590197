# COCO-Object val2017: background + 80 thing classes (81), labels from datasets/cvt_coco_object.py (stuff and
# unlabelled pixels are background). 5,000 images. Data root: $SCLIP_DATA (default ./data).
_base_ = ['./_loader.py']
dataset_type = 'COCOObjectDataset'
data_root = '{{$SCLIP_DATA:data}}/coco_object'
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017')))
