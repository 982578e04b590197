# SC-CLIP with OpenAI ViT-L/14 on PASCAL VOC 2012 (21 classes): the first reference commit's L/14 settings (tau 40,
# prob_thd 0.2, area_thd 0.1); layer indices in ../_base_/methods/vitl14/scclip.py.
_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/vitl14/scclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc21.txt'),
             post_process=[dict(type='AreaThreshold', threshold=0.1), dict(type='ProbThreshold', threshold=0.2)])
