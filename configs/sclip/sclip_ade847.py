# SCLIP on ADE20K-847. The reference has no such config (no published SCLIP result): the method defaults (short side
# 336, crops 224/112, tau 40). The only name file is ProxyCLIP's, whose names contain commas ('building, edifice'),
# hence '; '.
_base_ = ['../_base_/datasets/ade847.py', '../_base_/methods/sclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_ade20k847__proxyclip.txt', separator='; '))
