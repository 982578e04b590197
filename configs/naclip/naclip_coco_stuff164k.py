# NACLIP on COCO-Stuff-164k (171 classes), with the reference's settings (docs/methods.md); unset values are the
# method's (short side 336, crops 224/112, tau 40, PAMR).
_base_ = ['../_base_/datasets/coco_stuff164k.py', '../_base_/methods/naclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_stuff.txt'))
