# CorrCLIP on PASCAL VOC (21 classes, with background): the reference's cfg_voc21.py settings (short side 336, crops
# 336/112, prob threshold 0.2, its class-name file). Published masks: --cfg-options
# model.region_generator.type=PrecomputedMasks model.region_generator.folder=data/region_masks/voc
_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/corrclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc21__corrclip.txt'),
             post_process=[dict(type='ProbThreshold', threshold=0.2), dict(type='RegionVote')])
