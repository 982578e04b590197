# ClearCLIP on COCO-Stuff-164k (171 classes), with the reference's settings (docs/methods.md); unset values are the
# method's (short side 448, crops 448/224, tau 50).
_base_ = ['../_base_/datasets/coco_stuff164k.py', '../_base_/methods/clearclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_stuff.txt'))
