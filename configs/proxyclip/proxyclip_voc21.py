_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/proxyclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc21__proxyclip.txt'),
             post_process=[dict(type='ProbThreshold', threshold=0.2)])
