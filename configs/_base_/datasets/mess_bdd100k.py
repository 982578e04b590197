# MESS BDD100K (General): 1,000 test images, 19 classes as MESS names them
# (configs/classnames/cls_mess_bdd100k.txt; no background class; classes of interest: all classes); label 255 is
# ignored.
# MESS registers it as bdd100k_sem_seg_val.
# Prepared by tools/prepare_mess.py --dataset-dir $SCLIP_DATA (default ./data); see docs/evaluation.md.
_base_ = ['./_loader.py']
dataset_type = 'MESSDataset'
data_root = '{{$SCLIP_DATA:data}}/bdd100k'
test_dataloader = dict(
    dataset=dict(type=dataset_type, mess_name='bdd100k', data_root=data_root,
                 data_prefix=dict(img_path='images/10k/val', seg_map_path='annotations_detectron2/val'),
                 img_suffix='jpg', seg_map_suffix='png'))
