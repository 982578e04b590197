# ProxyCLIP on COCO-Stuff-164k (171 classes), with the reference's settings (docs/methods.md); unset values are the
# method's (short side 336, crops 336/112, tau 40).
_base_ = ['../_base_/datasets/coco_stuff164k.py', '../_base_/methods/proxyclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_stuff.txt'))
