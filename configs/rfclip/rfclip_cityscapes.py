# RF-CLIP on Cityscapes (19 classes). The reference's cfg_city_scapes.py: short side 560, and each crop's own CLS for
# the global term (the reference special-cases the config's file name; here it is the head's global_source='crop').
# Unset values are the method's (configs/_base_/methods/rfclip.py: short side 336, crops 224/112, tau 40, PAMR off).
_base_ = ['../_base_/datasets/cityscapes.py', '../_base_/methods/rfclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_city_scapes.txt'),
             data_preprocessor=dict(short_side=560),
             head=dict(global_semantics_weight=0.1, mean_vector_weight=0.03, h_threshold=0.14, global_source='crop'))
