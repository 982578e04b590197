# NACLIP on PASCAL VOC 2012 without background (20 classes), with the reference's settings (docs/methods.md); unset
# values are the method's (short side 336, crops 224/112, tau 40, PAMR).
_base_ = ['../_base_/datasets/voc20.py', '../_base_/methods/naclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc20.txt'),
             inference=dict(_delete_=True, type='WholeInference', resize='via_input'))
