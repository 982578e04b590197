# NACLIP (Hajimiri et al., WACV 2025): key-key attention + Gaussian neighbourhood prior (std 5 patches), the
# 'reduced' last block (attention output only), PAMR with 10 steps and dilations (8, 16).
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=336),  # Resize(scale=(2048, 336))
    clip=dict(type='CLIPBackbone', name='ViT-B/16', pretrained='openai', checkpoint=None,
              final_attn=dict(type='NACLIPAttention', gaussian_std=5.0)),
    separator=', ', templates='openai_imagenet_80',
    test_cfg=dict(mode='slide', crop_size=224, stride=112, pad_multiple=None, whole_resize='via_input'),
    logit_scale=40, prob_thd=0.0, pamr_steps=10, pamr_dilations=(8, 16), renormalize=True,
    score_dtype='model')  # NACLIP casts the refined logits to the model dtype (fp16 on CUDA) before the softmax
