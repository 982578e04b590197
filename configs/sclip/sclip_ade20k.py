# SCLIP on ADE20K (150 classes), with the reference's settings (docs/methods.md); unset values are the method's (short
# side 336, crops 224/112, tau 40).
_base_ = ['../_base_/datasets/ade20k.py', '../_base_/methods/sclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_ade20k.txt'))
