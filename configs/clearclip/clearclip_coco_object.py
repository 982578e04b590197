# ClearCLIP on COCO-Object (81 classes, with background), with the reference's settings (docs/methods.md); unset values
# are the method's (short side 448, crops 448/224, tau 50).
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/methods/clearclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_object__clearclip.txt'),
             post_process=[dict(type='ProbThreshold', threshold=0.4)])
