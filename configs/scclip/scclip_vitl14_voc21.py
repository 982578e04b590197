_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/scclip_vitl14.py']
model = dict(prob_thd=0.2, area_thd=0.1)
