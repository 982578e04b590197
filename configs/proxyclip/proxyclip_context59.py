# ProxyCLIP on PASCAL Context-59 (without background), with the reference's settings (docs/methods.md); unset values are
# the method's (short side 336, crops 336/112, tau 40).
_base_ = ['../_base_/datasets/context59.py', '../_base_/methods/proxyclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context59.txt'))
