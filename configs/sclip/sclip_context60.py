# SCLIP on PASCAL Context-60 (with background), with the reference's settings (docs/methods.md); unset values are the
# method's (short side 336, crops 224/112, tau 40).
_base_ = ['../_base_/datasets/context60.py', '../_base_/methods/sclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context60.txt'), logit_scale=50,
             post_process=[dict(type='ProbThreshold', threshold=0.1)])
