# SC-CLIP on PASCAL Context-60 (with background), with the reference's settings (METHODS.md §7); unset values are the
# method's (short side 336, crops 224/112, tau 40).
_base_ = ['../_base_/datasets/context60.py', '../_base_/methods/scclip.py']
model = dict(class_names='configs/classnames/cls_context60.txt', prob_thd=0.15)
