# ResCLIP on PASCAL Context-459. The reference has no such config (no published ResCLIP result): the values of its
# closest dataset, context59 (crops 224/112, temp_thd 0.25, RCS (2.0, 0.4), SFR (1.8, 0.7)); unset values are the
# method's (docs/methods.md#resclip). The only name file is ProxyCLIP's, whose names contain commas ('building,
# edifice'), hence '; '.
_base_ = ['../_base_/datasets/context459.py', '../_base_/methods/resclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context459__proxyclip.txt', separator='; '),
             clip=dict(final_attn=dict(temp_thd=0.25, attn_rcs_weights=[2.0, 0.4], attn_sfr_weights=[1.8, 0.7])))
