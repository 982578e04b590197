# ResCLIP on PASCAL Context-59 (without background), with the reference's cfg_context59.py: crops 224/112, temp_thd
# 0.25, RCS (2.0, 0.4), SFR (1.8, 0.7); unset values are the method's (docs/methods.md#resclip).
_base_ = ['../_base_/datasets/context59.py', '../_base_/methods/resclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context59.txt'),
             clip=dict(final_attn=dict(temp_thd=0.25, attn_rcs_weights=[2.0, 0.4], attn_sfr_weights=[1.8, 0.7])))
