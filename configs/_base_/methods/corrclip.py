# CorrCLIP (Zhang et al., ICCV 2025; github.com/zdk258/CorrCLIP, CorrCLIPv1): CLIP's last-block values mixed by an
# attention from DINO ViT-B/8's last-block q+k correlations (tau 4), restricted to region masks merged by feature
# similarity, plus a spatial branch (mean of middle blocks) and a semantic branch (one class token per region);
# region-majority map correction. MetaCLIP ViT-B/16 (open_clip 'metaclip_fullcc'); OpenAI CLIP with
#   --cfg-options model.clip.name=ViT-B/16 model.clip.pretrained=openai
# Regions: SAM 2 hiera-large online (CorrCLIP's online settings, masks cached on disk), or the authors' published
# masks: --cfg-options model.region_generator.type=PrecomputedMasks model.region_generator.folder=data/region_masks/voc
# (the dataset configs name the folder each benchmark uses). See docs/methods.md#corrclip.
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=336),  # Resize(scale=(2048, 336))
    clip=dict(type='CLIPBackbone', name='ViT-B-16-quickgelu', pretrained='metaclip_fullcc', checkpoint=None,
              final_attn=dict(type='CorrCLIPAttention', tau=4.0, merge_eps=0.2, spatial_weight=1.0,
                              semantic_weight=0.5),
              vfm=dict(type='VFMFeatures', family='dino', arch='vit_base', patch_size=8, checkpoint=None,
                       output='qk')),
    # SAM2Masks' defaults are CorrCLIP's (SAM 2.0 hiera-large, 8x8 points, IoU / stability thresholds 0.4); only the
    # type is set here so that --cfg-options can switch to PrecomputedMasks (folder=...) without leftover keys
    region_generator=dict(type='SAM2Masks'),
    text_encoder=dict(type='CLIPTextClassifier', separator='; ', templates='openai_imagenet_80'),
    inference=dict(type='SlideInference', crop_size=336, stride=112, pad_multiple=56, batch_size=1),
    logit_scale=40, post_process=[dict(type='RegionVote')])
