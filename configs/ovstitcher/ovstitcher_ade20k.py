# OV-Stitcher on ADE20K (150 classes): the reference's configs/cfg_ade20k.py (atw617/OV-Stitcher@2bb65864): short side
# 448, crops 336/112, prob threshold 0.0, CorrCLIP's class-name file. Published masks: --cfg-options
# model.region_generator.type=PrecomputedMasks model.region_generator.folder=data/region_masks/ade
_base_ = ['../_base_/datasets/ade20k.py', '../_base_/methods/ovstitcher.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_ade20k__corrclip.txt'),
             post_process=[dict(type='RegionVote')])
