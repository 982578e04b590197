_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/sclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc21.txt'), logit_scale=65,
             post_process=[dict(type='AreaThreshold', threshold=0.1), dict(type='ProbThreshold', threshold=0.1)])
