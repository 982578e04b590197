# RF-CLIP on PASCAL Context-459. The reference has no such config: PASCAL Context-59's values (the closest dataset). The
# only name file is ProxyCLIP's, whose names contain commas ('building, edifice'), hence '; '. Unset values are the
# method's (configs/_base_/methods/rfclip.py: short side 336, crops 224/112, tau 40, PAMR off).
_base_ = ['../_base_/datasets/context459.py', '../_base_/methods/rfclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context459__proxyclip.txt', separator='; '),
             head=dict(global_semantics_weight=0.25, mean_vector_weight=0.04, h_threshold=0.09))
