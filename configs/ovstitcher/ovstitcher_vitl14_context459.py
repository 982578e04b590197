# OV-Stitcher with OpenAI CLIP ViT-L/14 on PASCAL Context-459 (the reference's 51.6 mean-mIoU setting: only the CLIP
# model changes; ovstitcher_context459.py has the dataset settings). 24 blocks: spatial branch over blocks 10..21.
_base_ = ['./ovstitcher_context459.py']
model = dict(clip=dict(name='ViT-L/14'))
