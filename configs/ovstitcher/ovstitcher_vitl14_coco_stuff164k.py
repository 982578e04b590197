# OV-Stitcher with OpenAI CLIP ViT-L/14 on COCO-Stuff 164k (the reference's 51.6 mean-mIoU setting: only the CLIP
# model changes; ovstitcher_coco_stuff164k.py has the dataset settings). 24 blocks: spatial branch over blocks 10..21.
_base_ = ['./ovstitcher_coco_stuff164k.py']
model = dict(clip=dict(name='ViT-L/14'))
