_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/naclip.py']
model = dict(class_names='configs/classnames/cls_voc21.txt', prob_thd=0.1, test_cfg=dict(mode='whole'))
