_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/clearclip.py']
model = dict(class_names='configs/classnames/cls_voc21__clearclip.txt', prob_thd=0.5)
