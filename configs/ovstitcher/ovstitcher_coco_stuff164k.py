# OV-Stitcher on COCO-Stuff 164k: the reference's configs/cfg_coco_stuff164k.py (atw617/OV-Stitcher@2bb65864): short
# side 448, crops 336/224, prob threshold 0.0, CorrCLIP's class-name file. Published masks: --cfg-options
# model.region_generator.type=PrecomputedMasks model.region_generator.folder=data/region_masks/coco
_base_ = ['../_base_/datasets/coco_stuff164k.py', '../_base_/methods/ovstitcher.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_stuff__corrclip.txt'),
             inference=dict(crop_size=336, stride=224),
             post_process=[dict(type='RegionVote')])
