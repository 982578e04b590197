# SC-CLIP on PASCAL Context-459. The reference has no such config (no published SC-CLIP result): the method defaults
# (short side 336, crops 224/112, tau 40). The only name file is ProxyCLIP's, whose names contain commas ('building,
# edifice'), hence '; '.
_base_ = ['../_base_/datasets/context459.py', '../_base_/methods/scclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context459__proxyclip.txt', separator='; '))
