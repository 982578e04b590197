# OV-Stitcher on Cityscapes: the reference's configs/cfg_city_scapes.py (atw617/OV-Stitcher@2bb65864): short side 560,
# crops 224/112, prob threshold 0.0, CorrCLIP's class-name file. Published masks: --cfg-options
# model.region_generator.type=PrecomputedMasks model.region_generator.folder=data/region_masks/city
_base_ = ['../_base_/datasets/cityscapes.py', '../_base_/methods/ovstitcher.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_city_scapes__corrclip.txt'),
             data_preprocessor=dict(short_side=560),
             inference=dict(crop_size=224, stride=112),
             post_process=[dict(type='RegionVote')])
