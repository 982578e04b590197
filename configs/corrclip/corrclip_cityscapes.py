# CorrCLIP on Cityscapes: the reference's cfg_city_scapes.py settings (short side 448, crops 224/112, prob threshold
# 0.0, its class-name file). Published masks: --cfg-options model.region_generator.type=PrecomputedMasks
# model.region_generator.folder=data/region_masks/city
_base_ = ['../_base_/datasets/cityscapes.py', '../_base_/methods/corrclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_city_scapes__corrclip.txt'),
             data_preprocessor=dict(short_side=448),
             inference=dict(crop_size=224),
             post_process=[dict(type='RegionVote')])
