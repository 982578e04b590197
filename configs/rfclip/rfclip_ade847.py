# RF-CLIP on ADE20K-847. The reference has no such config: ADE20K-150's values (the closest dataset). The only name file
# is ProxyCLIP's, whose names contain commas ('building, edifice'), hence '; '. Unset values are the method's
# (configs/_base_/methods/rfclip.py: short side 336, crops 224/112, tau 40, PAMR off).
_base_ = ['../_base_/datasets/ade847.py', '../_base_/methods/rfclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_ade20k847__proxyclip.txt', separator='; '),
             head=dict(global_semantics_weight=0.3, mean_vector_weight=0.05, h_threshold=0.06))
