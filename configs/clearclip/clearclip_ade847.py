# ClearCLIP on ADE20K-847. The reference has no such config (no published ClearCLIP result): the method defaults
# (short side 448, crops 448/224, tau 50). The only name file is ProxyCLIP's, whose names contain commas ('building,
# edifice'), hence '; '.
_base_ = ['../_base_/datasets/ade847.py', '../_base_/methods/clearclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_ade20k847__proxyclip.txt', separator='; '))
