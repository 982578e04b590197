# ResCLIP on COCO-Stuff-164k (171 classes), with the reference's cfg_coco_stuff164k.py: crops 224/112, temp_thd 0.11,
# RCS (2.0, 0.4), SFR (1.8, 0.7); unset values are the method's (docs/methods.md#resclip).
_base_ = ['../_base_/datasets/coco_stuff164k.py', '../_base_/methods/resclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_stuff.txt'),
             clip=dict(final_attn=dict(temp_thd=0.11, attn_rcs_weights=[2.0, 0.4], attn_sfr_weights=[1.8, 0.7])))
