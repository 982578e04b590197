# OV-Stitcher on PASCAL Context-60: the reference's configs/cfg_context60.py (atw617/OV-Stitcher@2bb65864): short side
# 448, crops 336/112, prob threshold 0.1, CorrCLIP's class-name file. Published masks: --cfg-options
# model.region_generator.type=PrecomputedMasks model.region_generator.folder=data/region_masks/context
_base_ = ['../_base_/datasets/context60.py', '../_base_/methods/ovstitcher.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context60__corrclip.txt'),
             post_process=[dict(type='ProbThreshold', threshold=0.1), dict(type='RegionVote')])
