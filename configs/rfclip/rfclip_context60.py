# RF-CLIP on PASCAL Context (60 classes). The reference's cfg_context60.py. Unset values are the method's
# (configs/_base_/methods/rfclip.py: short side 336, crops 224/112, tau 40, PAMR off).
_base_ = ['../_base_/datasets/context60.py', '../_base_/methods/rfclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context60.txt'),
             head=dict(global_semantics_weight=0.25, mean_vector_weight=0.04, h_threshold=0.09),
             post_process=[dict(type='ProbThreshold', threshold=0.1)])
