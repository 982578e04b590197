_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/proxyclip.py']
model = dict(class_names='configs/classnames/cls_voc21__proxyclip.txt', prob_thd=0.2)
