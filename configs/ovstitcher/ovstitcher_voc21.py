# OV-Stitcher on PASCAL VOC (21 classes, with background): the reference's configs/cfg_voc21.py (atw617/OV-
# Stitcher@2bb65864): short side 448, crops 336/112, prob threshold 0.1, CorrCLIP's class-name file. Published masks:
# --cfg-options model.region_generator.type=PrecomputedMasks model.region_generator.folder=data/region_masks/voc
_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/ovstitcher.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc21__corrclip.txt'),
             post_process=[dict(type='ProbThreshold', threshold=0.1), dict(type='RegionVote')])
