# CorrCLIP on PASCAL Context-60: the reference's cfg_context60.py settings (short side 336, crops 336/112, prob
# threshold 0.15, its class-name file). Published masks: --cfg-options model.region_generator.type=PrecomputedMasks
# model.region_generator.folder=data/region_masks/context
_base_ = ['../_base_/datasets/context60.py', '../_base_/methods/corrclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context60__corrclip.txt'),
             post_process=[dict(type='ProbThreshold', threshold=0.15), dict(type='RegionVote')])
