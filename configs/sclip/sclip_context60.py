# SCLIP on PASCAL Context-60 (with background), with the reference's settings (METHODS.md §7); unset values are the
# method's (short side 336, crops 224/112, tau 40).
_base_ = ['../_base_/datasets/context60.py', '../_base_/methods/sclip.py']
model = dict(class_names='configs/classnames/cls_context60.txt', logit_scale=50, prob_thd=0.1)
