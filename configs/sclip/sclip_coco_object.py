# SCLIP on COCO-Object (81 classes, with background), with the reference's settings (docs/methods.md); unset values are
# the method's (short side 336, crops 224/112, tau 40). Its name file lists 'bed' both among the background names
# (line 0) and as a class, as the reference's does, hence allow_duplicate_names.
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/methods/sclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_object.txt', allow_duplicate_names=True),
             logit_scale=50, post_process=[dict(type='ProbThreshold', threshold=0.1)])
