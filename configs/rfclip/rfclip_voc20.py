# RF-CLIP on PASCAL VOC 2012 without background (20 classes). The reference's cfg_voc20.py: sliding 224/112 crops. Unset
# values are the method's (configs/_base_/methods/rfclip.py: short side 336, crops 224/112, tau 40, PAMR off).
_base_ = ['../_base_/datasets/voc20.py', '../_base_/methods/rfclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc20.txt'),
             head=dict(global_semantics_weight=0.4, mean_vector_weight=0.02, h_threshold=0.1))
