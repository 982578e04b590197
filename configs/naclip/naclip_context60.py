# NACLIP on PASCAL Context-60 (with background), with the reference's settings (docs/methods.md); unset values are the
# method's (short side 336, crops 224/112, tau 40, PAMR).
_base_ = ['../_base_/datasets/context60.py', '../_base_/methods/naclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context60.txt'),
             post_process=[dict(type='PAMR', steps=10, dilations=(8, 16)),
                           dict(type='ProbThreshold', threshold=0.1),
                           dict(type='Renormalize')])
