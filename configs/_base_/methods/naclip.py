# NACLIP (Hajimiri et al., WACV 2025): key-key attention + Gaussian neighbourhood prior (std 5 patches), the
# 'reduced' last block (attention output only), PAMR with 10 steps and dilations (8, 16). See docs/methods.md#naclip.
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=336),  # Resize(scale=(2048, 336))
    clip=dict(type='CLIPBackbone', name='ViT-B/16', pretrained='openai', checkpoint=None,
              final_attn=dict(type='NACLIPAttention', gaussian_std=5.0)),
    text_encoder=dict(type='CLIPTextClassifier', separator=', ', templates='openai_imagenet_80'),
    inference=dict(type='SlideInference', crop_size=224, stride=112),
    logit_scale=40,
    post_process=[dict(type='PAMR', steps=10, dilations=(8, 16)), dict(type='Renormalize')],
    score_dtype='model')  # NACLIP casts the refined logits to the model dtype (fp16 on CUDA) before the softmax
