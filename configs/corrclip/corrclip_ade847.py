# CorrCLIP on ADE20K-847: NOT shipped by the reference (CorrCLIPv1); toolkit default: short side 448, crops 336/112, no
# prob threshold (CorrCLIPv2 at the same commit uses short side 448 for ADE-847); class names:
# cls_ade20k847__proxyclip.txt. No published masks for this benchmark: SAM 2 online (masks cached on disk).
_base_ = ['../_base_/datasets/ade847.py', '../_base_/methods/corrclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_ade20k847__proxyclip.txt'),
             data_preprocessor=dict(short_side=448),
             post_process=[dict(type='RegionVote')])
