# ADE20K (ADEChallengeData2016) val: 150 classes, label 0 ("other") ignored (reduce_zero_label, the dataset
# default). 2,000 images. Data root: $SCLIP_DATA (default ./data).
_base_ = ['./_loader.py']
dataset_type = 'ADE20KDataset'
data_root = '{{$SCLIP_DATA:data}}/ade/ADEChallengeData2016'
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation')))
