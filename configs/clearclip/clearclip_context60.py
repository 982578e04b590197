# ClearCLIP on PASCAL Context-60 (with background), with the reference's settings (METHODS.md §7); unset values are
# the method's (short side 448, crops 448/224, tau 50).
_base_ = ['../_base_/datasets/context60.py', '../_base_/methods/clearclip.py']
model = dict(class_names='configs/classnames/cls_context60.txt', prob_thd=0.15)
