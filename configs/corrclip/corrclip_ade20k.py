# CorrCLIP on ADE20K (150 classes): the reference's cfg_ade20k.py settings (short side 448, crops 336/112, prob
# threshold 0.0, its class-name file). Published masks: --cfg-options model.region_generator.type=PrecomputedMasks
# model.region_generator.folder=data/region_masks/ade
_base_ = ['../_base_/datasets/ade20k.py', '../_base_/methods/corrclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_ade20k__corrclip.txt'),
             data_preprocessor=dict(short_side=448),
             post_process=[dict(type='RegionVote')])
