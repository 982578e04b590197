# CorrCLIP on COCO-Object (81 classes): the reference's cfg_coco_object.py settings (short side 336, crops 336/112, prob
# threshold 0.25, its class-name file). Published masks: --cfg-options model.region_generator.type=PrecomputedMasks
# model.region_generator.folder=data/region_masks/coco
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/methods/corrclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_object__corrclip.txt'),
             post_process=[dict(type='ProbThreshold', threshold=0.25), dict(type='RegionVote')])
