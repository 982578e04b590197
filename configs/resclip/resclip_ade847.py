# ResCLIP on ADE20K-847. The reference has no such config (no published ResCLIP result): the values of its closest
# dataset, ade20k (crops 224/112, temp_thd 0.25, RCS (2.0, 0.3), SFR (2.1, 0.7)); unset values are the method's
# (docs/methods.md#resclip). The only name file is ProxyCLIP's, whose names contain commas ('building, edifice'),
# hence '; '.
_base_ = ['../_base_/datasets/ade847.py', '../_base_/methods/resclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_ade20k847__proxyclip.txt', separator='; '),
             clip=dict(final_attn=dict(temp_thd=0.25, attn_rcs_weights=[2.0, 0.3], attn_sfr_weights=[2.1, 0.7])))
