# CorrCLIP on PASCAL VOC (20 classes): the reference's cfg_voc20.py settings (short side 336, crops 336/112, prob
# threshold 0.0, its class-name file). Published masks: --cfg-options model.region_generator.type=PrecomputedMasks
# model.region_generator.folder=data/region_masks/voc
_base_ = ['../_base_/datasets/voc20.py', '../_base_/methods/corrclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc20__corrclip.txt'),
             post_process=[dict(type='RegionVote')])
