# OV-Stitcher on COCO-Object: the reference's configs/cfg_coco_object.py (atw617/OV-Stitcher@2bb65864): short side
# 448, crops 336/112, prob threshold 0.2, CorrCLIP's class-name file. Published masks: --cfg-options
# model.region_generator.type=PrecomputedMasks model.region_generator.folder=data/region_masks/coco
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/methods/ovstitcher.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_object__corrclip.txt'),
             post_process=[dict(type='ProbThreshold', threshold=0.2), dict(type='RegionVote')])
