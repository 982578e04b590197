_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/scclip.py']
model = dict(class_names='configs/classnames/cls_voc21.txt', logit_scale=50, prob_thd=0.15, area_thd=0.1)
