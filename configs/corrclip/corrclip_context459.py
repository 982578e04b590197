# CorrCLIP on PASCAL Context-459: NOT shipped by the reference (CorrCLIPv1); toolkit default: short side 336, crops
# 336/112, no prob threshold (CorrCLIPv2 at the same commit uses short side 336 for Context-459); class names:
# cls_context459__proxyclip.txt. No published masks for this benchmark: SAM 2 online (masks cached on disk).
_base_ = ['../_base_/datasets/context459.py', '../_base_/methods/corrclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context459__proxyclip.txt'),
             post_process=[dict(type='RegionVote')])
