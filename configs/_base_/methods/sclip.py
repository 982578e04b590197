# SCLIP (Wang et al., ECCV 2024): correlative self-attention in CLIP's last block, residual and FFN kept.
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=336),  # Resize(scale=(2048, 336))
    clip=dict(type='CLIPBackbone', name='ViT-B/16', pretrained='openai', checkpoint=None,
              final_attn=dict(type='SCLIPAttention')),
    separator=', ', templates='openai_imagenet_80',
    test_cfg=dict(mode='slide', crop_size=224, stride=112, pad_multiple=None),
    logit_scale=40, prob_thd=0.0, area_thd=None, pamr_steps=0, pamr_dilations=(8, 16))
