# CorrCLIP on COCO-Stuff 10k: NOT shipped by the reference (CorrCLIPv1); toolkit default: the COCO-Stuff 164k settings
# (same 171 classes): short side 336, crops 336/112, no prob threshold; class names: cls_coco_stuff__corrclip.txt.
# The authors' published COCO masks are named after COCO-Stuff 164k's val images, not these: SAM 2 online (masks
# cached on disk).
_base_ = ['../_base_/datasets/coco_stuff10k.py', '../_base_/methods/corrclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_stuff__corrclip.txt'),
             post_process=[dict(type='RegionVote')])
