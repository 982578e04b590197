# OV-Stitcher on COCO-Stuff 10k: NOT shipped by the reference; toolkit defaults: COCO-Stuff 164k's settings (stride
# 224) (short side 448, crops 336/224, no prob threshold); class names: cls_coco_stuff__corrclip.txt. No published
# masks for this benchmark: SAM 2 online with OV-Stitcher's generator settings (masks cached on disk).
_base_ = ['../_base_/datasets/coco_stuff10k.py', '../_base_/methods/ovstitcher.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_stuff__corrclip.txt'),
             inference=dict(stride=224),
             post_process=[dict(type='RegionVote')])
