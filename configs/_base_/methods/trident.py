# Trident (Shi et al., ICCV 2025; github.com/YuHengsss/Trident): CLIP and DINO (ViT-B/16) encode 336-px windows every
# 224 px with ProxyCLIP's proxy attention (beta 1.2, gamma 3.0, its mean over all windows); the windows' tokens are
# spliced into one whole-image map, mixed by the affinity of SAM's encoder (ViT-B, last global block, cos_fac 1.2),
# then projected; tau 40. SAM's refinement (prompt encoder + mask decoder) is the post-processing step SAMRefinement,
# off by default as in the reference (its eval.py --sam_refine); the dataset configs carry its settings.
# See docs/methods.md#trident. SAM weights: --sam-checkpoint FILE (segment-anything's layout) or the official
# sam_vit_b_01ec64.pth in the torch hub cache.
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=448),  # Resize(scale=(2048, 448))
    clip=dict(type='CLIPBackbone', name='ViT-B/16', pretrained='openai', checkpoint=None,
              final_attn=dict(type='ProxyAttention', beta=1.2, gamma=3.0, mean_over='batch'),
              vfm=dict(type='VFMFeatures', family='dino', arch='vit_base', patch_size=16, checkpoint=None)),
    text_encoder=dict(type='CLIPTextClassifier', separator='; ', templates='openai_imagenet_80'),
    inference=dict(type='SplicedInference', crop_size=336, stride=224, sam_input='file',
                   affinity=dict(type='SAMAffinity', model_type='vit_b', checkpoint=None, cos_fac=1.2,
                                 refine_neg_cos=True, embedding=False)),
    logit_scale=40, post_process=[])
