# OV-Stitcher on PASCAL Context-459: NOT shipped by the reference; toolkit defaults: Context-59's settings (short side
# 448, crops 336/112, no prob threshold); class names: cls_context459__proxyclip.txt. No published masks for this
# benchmark: SAM 2 online with OV-Stitcher's generator settings (masks cached on disk).
_base_ = ['../_base_/datasets/context459.py', '../_base_/methods/ovstitcher.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context459__proxyclip.txt'),
             post_process=[dict(type='RegionVote')])
