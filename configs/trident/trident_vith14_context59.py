# Trident with OpenCLIP ViT-H/14 (laion2b_s32b_b79k), the reference's second CLIP (its base_config.py), on context59;
# published mIoU 44.3. Windows and the resize follow its 14-px patches; DINO ViT-B/16's 21x21 window grid is
# resized onto CLIP's 24x24 before the splice.
_base_ = ['./trident_context59.py']
model = dict(clip=dict(name='ViT-H-14', pretrained='laion2b_s32b_b79k'))
