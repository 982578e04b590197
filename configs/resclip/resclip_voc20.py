# ResCLIP on PASCAL VOC 2012 without background (20 classes), with the reference's cfg_voc20.py: whole image, temp_thd
# 0.1, RCS (2.0, 0.6), SFR (2.1, 0.6); unset values are the method's (docs/methods.md#resclip). Whole-image logits
# stay in the model dtype (fp16 on CUDA) up to the softmax, as the reference's do.
_base_ = ['../_base_/datasets/voc20.py', '../_base_/methods/resclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc20.txt'),
             clip=dict(final_attn=dict(temp_thd=0.1, attn_rcs_weights=[2.0, 0.6], attn_sfr_weights=[2.1, 0.6])),
             inference=dict(_delete_=True, type='WholeInference', resize='via_input'),
             score_dtype='model')
