# ProxyCLIP on COCO-Stuff-10k (171 classes). The reference has no such config (no published ProxyCLIP result): the
# method defaults (short side 336, crops 336/112, tau 40).
_base_ = ['../_base_/datasets/coco_stuff10k.py', '../_base_/methods/proxyclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_stuff.txt'))
