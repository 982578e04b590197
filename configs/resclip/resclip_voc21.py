# ResCLIP on PASCAL VOC 2012 (21 classes), with the reference's cfg_voc21.py: whole image, temp_thd 0.5, RCS (2.0,
# 0.3), SFR (2.2, 0.7), probability threshold 0.1 (on the scores before renormalisation); unset values are the
# method's (docs/methods.md#resclip). Whole-image logits stay in the model dtype (fp16 on CUDA) up to the softmax, as
# the reference's do.
_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/resclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc21.txt'),
             clip=dict(final_attn=dict(temp_thd=0.5, attn_rcs_weights=[2.0, 0.3], attn_sfr_weights=[2.2, 0.7])),
             inference=dict(_delete_=True, type='WholeInference', resize='via_input'),
             score_dtype='model',
             post_process=[dict(type='ProbThreshold', threshold=0.1), dict(type='Renormalize')])
