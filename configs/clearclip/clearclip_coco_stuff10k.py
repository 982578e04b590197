# ClearCLIP on COCO-Stuff-10k (171 classes). The reference has no such config (no published ClearCLIP result): the
# method defaults (short side 448, crops 448/224, tau 50).
_base_ = ['../_base_/datasets/coco_stuff10k.py', '../_base_/methods/clearclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_stuff.txt'))
