# SCLIP (Wang et al., ECCV 2024): correlative self-attention in CLIP's last block, residual and FFN kept.
# See docs/methods.md#sclip.
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=336),  # Resize(scale=(2048, 336))
    clip=dict(type='CLIPBackbone', name='ViT-B/16', pretrained='openai', checkpoint=None,
              final_attn=dict(type='SCLIPAttention')),
    text_encoder=dict(type='CLIPTextClassifier', separator=', ', templates='openai_imagenet_80'),
    inference=dict(type='SlideInference', crop_size=224, stride=112),
    logit_scale=40, post_process=[])
