# OV-Stitcher on PASCAL Context-59: the reference's configs/cfg_context59.py (atw617/OV-Stitcher@2bb65864): short side
# 448, crops 336/112, prob threshold 0.0, CorrCLIP's class-name file. Published masks: --cfg-options
# model.region_generator.type=PrecomputedMasks model.region_generator.folder=data/region_masks/context
_base_ = ['../_base_/datasets/context59.py', '../_base_/methods/ovstitcher.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context59__corrclip.txt'),
             post_process=[dict(type='RegionVote')])
