# ResCLIP on ADE20K (150 classes), with the reference's cfg_ade20k.py: crops 224/112, temp_thd 0.25, RCS (2.0, 0.3),
# SFR (2.1, 0.7); unset values are the method's (docs/methods.md#resclip).
_base_ = ['../_base_/datasets/ade20k.py', '../_base_/methods/resclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_ade20k.txt'),
             clip=dict(final_attn=dict(temp_thd=0.25, attn_rcs_weights=[2.0, 0.3], attn_sfr_weights=[2.1, 0.7])))
