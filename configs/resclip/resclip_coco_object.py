# ResCLIP on COCO-Object (81 classes, with background), with the reference's cfg_coco_object.py: crops 224/112,
# temp_thd 0.11, RCS (2.0, 0.4), SFR (1.8, 0.7), probability threshold 0.1 (on the scores before renormalisation);
# unset values are the method's (docs/methods.md#resclip). Its name file lists 'bed' both among the background names
# (line 0) and as a class, as the reference's does, hence allow_duplicate_names.
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/methods/resclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_object.txt', allow_duplicate_names=True),
             clip=dict(final_attn=dict(temp_thd=0.11, attn_rcs_weights=[2.0, 0.4], attn_sfr_weights=[1.8, 0.7])),
             post_process=[dict(type='ProbThreshold', threshold=0.1), dict(type='Renormalize')])
