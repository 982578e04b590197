# ClearCLIP on COCO-Object (81 classes, with background), with the reference's settings (METHODS.md §7); unset values
# are the method's (short side 448, crops 448/224, tau 50).
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/methods/clearclip.py']
model = dict(class_names='configs/classnames/cls_coco_object__clearclip.txt', prob_thd=0.4)
