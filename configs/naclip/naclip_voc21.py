_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/naclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc21.txt'),
             inference=dict(_delete_=True, type='WholeInference', resize='via_input'),
             post_process=[dict(type='PAMR', steps=10, dilations=(8, 16)),
                           dict(type='ProbThreshold', threshold=0.1),
                           dict(type='Renormalize')])
