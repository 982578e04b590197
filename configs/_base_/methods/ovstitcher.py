# OV-Stitcher (CVPR 2026 Findings; github.com/atw617/OV-Stitcher, MIT): CorrCLIP with its last blocks run
# over the whole image. The windows' last-block inputs (CLIP values, DINO q/k/v, the spatial branch's middle-block
# inputs) are stitched onto one whole-image grid and the final attention, DINO's last block and the spatial branch
# attend globally (StitchedInference); class tokens and every earlier block stay per window. OpenAI CLIP ViT-B/16,
# DINO ViT-B/8, SAM 2 hiera-large masks (64x64 points, IoU / stability thresholds 0.7), class-biased prompts.
# Reference quirks kept by default (fixes: final_attn.spatial_attention='block', vfm.block_residual='block_input'):
# see docs/methods.md#ov-stitcher. Published masks: --cfg-options model.region_generator.type=PrecomputedMasks
# model.region_generator.folder=data/region_masks/voc (the dataset configs name the folder each benchmark uses).
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=448),  # Resize(scale=(2048, 448))
    clip=dict(type='CLIPBackbone', name='ViT-B/16', pretrained='openai', checkpoint=None,
              final_attn=dict(type='OVStitcherAttention', tau=4.0, merge_eps=0.2, spatial_weight=1.0,
                              semantic_weight=0.5, spatial_attention='single_head'),
              vfm=dict(type='VFMFeatures', family='dino', arch='vit_base', patch_size=8, checkpoint=None,
                       output='block', block_residual='final_norm')),
    region_generator=dict(type='OVStitcherSAM2Masks'),  # SAM 2.0 hiera-large, 64 points, thresholds 0.7 / 0.7
    text_encoder=dict(type='CLIPTextClassifier', separator='; ', templates='openai_imagenet_80',
                      extra_prompts='ovstitcher_class_biased'),
    inference=dict(type='StitchedInference', crop_size=336, stride=112, pad_multiple=56, batch_size=4,
                   resize='via_input'),
    logit_scale=40, post_process=[dict(type='RegionVote')])
