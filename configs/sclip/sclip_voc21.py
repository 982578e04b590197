_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/sclip.py']
model = dict(class_names='configs/classnames/cls_voc21.txt', logit_scale=65, prob_thd=0.1, area_thd=0.1)
