# CorrCLIP on COCO-Stuff 10k: NOT shipped by the reference (CorrCLIPv1); toolkit default: short side 336, crops 336/112, no prob threshold
# (the COCO-Stuff 164k settings (same 171 classes)); class names: cls_coco_stuff__corrclip.txt.
# Published masks: --cfg-options model.region_generator.type=PrecomputedMasks model.region_generator.folder=data/region_masks/coco
_base_ = ['../_base_/datasets/coco_stuff10k.py', '../_base_/methods/corrclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_stuff__corrclip.txt'),
             post_process=[dict(type='RegionVote')])
