# OV-Stitcher with OpenAI CLIP ViT-L/14 on ADE20K-847 (the reference's 51.6 mean-mIoU setting: only the CLIP model
# changes; ovstitcher_ade847.py has the dataset settings). 24 blocks: spatial branch over blocks 10..21.
_base_ = ['./ovstitcher_ade847.py']
model = dict(clip=dict(name='ViT-L/14'))
