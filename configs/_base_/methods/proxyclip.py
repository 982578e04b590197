# ProxyCLIP (Lan et al., ECCV 2024): CLIP's last-block values mixed by a vision foundation model's patch
# affinities (proxy attention, beta 1.2, gamma 3.0), no residual / FFN; output on the VFM grid (DINO ViT-B/8:
# stride 8). Crops 336 / stride 112, zero-padded to a multiple of 56, tau 40, no PAMR; fp16 CLIP and VFM on CUDA.
# See docs/methods.md#proxyclip. Other VFMs: proxyclip_voc21_{dinov2,sam,mae}.py, or e.g.
#   --cfg-options model.clip.vfm.family=dino model.clip.vfm.arch=vit_small model.clip.vfm.patch_size=16
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=336),  # Resize(scale=(2048, 336))
    clip=dict(type='CLIPBackbone', name='ViT-B/16', pretrained='openai', checkpoint=None,
              final_attn=dict(type='ProxyAttention', beta=1.2, gamma=3.0),
              vfm=dict(type='VFMFeatures', family='dino', arch='vit_base', patch_size=8, checkpoint=None)),
    text_encoder=dict(type='CLIPTextClassifier', separator='; ', templates='openai_imagenet_80'),
    inference=dict(type='SlideInference', crop_size=336, stride=112, pad_multiple=56),
    logit_scale=40, post_process=[])
