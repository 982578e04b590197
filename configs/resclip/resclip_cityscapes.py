# ResCLIP on Cityscapes (19 classes), with the reference's cfg_city_scapes.py: crops 224/112, temp_thd 0.1, RCS (2.0,
# 0.2), SFR (2.1, 0.6), short side 560; unset values are the method's (docs/methods.md#resclip).
_base_ = ['../_base_/datasets/cityscapes.py', '../_base_/methods/resclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_city_scapes.txt'),
             clip=dict(final_attn=dict(temp_thd=0.1, attn_rcs_weights=[2.0, 0.2], attn_sfr_weights=[2.1, 0.6])),
             data_preprocessor=dict(short_side=560))
