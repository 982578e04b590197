# RF-CLIP on ADE20K (150 classes). The reference's cfg_ade20k.py. Unset values are the method's
# (configs/_base_/methods/rfclip.py: short side 336, crops 224/112, tau 40, PAMR off).
_base_ = ['../_base_/datasets/ade20k.py', '../_base_/methods/rfclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_ade20k.txt'),
             head=dict(global_semantics_weight=0.3, mean_vector_weight=0.05, h_threshold=0.06))
