# OV-Stitcher on PASCAL VOC (20 classes): the reference's configs/cfg_voc20.py (atw617/OV-Stitcher@2bb65864): short
# side 448, crops 336/112, prob threshold 0.0, CorrCLIP's class-name file. Published masks: --cfg-options
# model.region_generator.type=PrecomputedMasks model.region_generator.folder=data/region_masks/voc
_base_ = ['../_base_/datasets/voc20.py', '../_base_/methods/ovstitcher.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc20__corrclip.txt'),
             post_process=[dict(type='RegionVote')])
