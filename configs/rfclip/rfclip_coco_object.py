# RF-CLIP on COCO-Object (81 classes, with background). The reference's cfg_coco_object.py (tau 40, threshold 0.1). Its
# name file lists 'bed' both among the background names (line 0) and as a class, as the reference's does, hence
# allow_duplicate_names. Unset values are the method's (configs/_base_/methods/rfclip.py: short side 336, crops 224/112,
# tau 40, PAMR off).
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/methods/rfclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_object.txt', allow_duplicate_names=True),
             head=dict(global_semantics_weight=0.25, mean_vector_weight=0.01, h_threshold=0.1),
             post_process=[dict(type='ProbThreshold', threshold=0.1)])
