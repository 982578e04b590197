# ResCLIP on PASCAL Context-60 (with background), with the reference's cfg_context60.py: crops 224/112, temp_thd 0.3,
# RCS (2.0, 0.3), SFR (1.8, 0.7), probability threshold 0.1 (on the scores before renormalisation); unset values are
# the method's (docs/methods.md#resclip).
_base_ = ['../_base_/datasets/context60.py', '../_base_/methods/resclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context60.txt'),
             clip=dict(final_attn=dict(temp_thd=0.3, attn_rcs_weights=[2.0, 0.3], attn_sfr_weights=[1.8, 0.7])),
             post_process=[dict(type='ProbThreshold', threshold=0.1), dict(type='Renormalize')])
