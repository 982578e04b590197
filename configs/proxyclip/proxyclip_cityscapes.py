# ProxyCLIP on Cityscapes (19 classes), with the reference's settings (docs/methods.md); unset values are the method's
# (short side 336, crops 336/112, tau 40).
_base_ = ['../_base_/datasets/cityscapes.py', '../_base_/methods/proxyclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_city_scapes.txt'),
             inference=dict(crop_size=224, stride=112), data_preprocessor=dict(short_side=448))
