# ProxyCLIP on ADE20K-847, with the reference's settings (docs/methods.md); unset values are the method's (short side
# 336, crops 336/112, tau 40).
_base_ = ['../_base_/datasets/ade847.py', '../_base_/methods/proxyclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_ade20k847__proxyclip.txt'),
             data_preprocessor=dict(short_side=448))
