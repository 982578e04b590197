# RF-CLIP on PASCAL VOC 2012 (21 classes). The reference's cfg_voc21.py: whole image, probability threshold 0.1. Unset
# values are the method's (configs/_base_/methods/rfclip.py: short side 336, crops 224/112, tau 40, PAMR off).
_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/rfclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc21.txt'),
             inference=dict(_delete_=True, type='WholeInference', resize='via_input'),
             head=dict(global_semantics_weight=0.1, mean_vector_weight=0.03, h_threshold=0.1),
             post_process=[dict(type='ProbThreshold', threshold=0.1)])
