# SC-CLIP (Bai et al., 2025; github.com/SuleBai/SC-CLIP): LOF anomaly-token repair, affinity smoothing with layers
# 8 and 3, self-adjusted attention (layer-8 affinity + key-key), multi-level fusion of layers 3..9, no residual/FFN.
# Layer indices are for ViT-B/16 (12 blocks); ViT-L/14: ./scclip_vitl14.py (configs/scclip/scclip_vitl14_voc21.py).
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=336),  # Resize(scale=(2048, 336))
    clip=dict(type='CLIPBackbone', name='ViT-B/16', pretrained='openai', checkpoint=None,
              final_attn=dict(type='SCCLIPAttention', pre_adjust_idx=8, post_adjust_idx=3, multi_start_idx=3,
                              multi_end_idx=10, res_cls=0.3, sim_threshold=0.4, attn_gamma=3.0, lof_neighbors=30,
                              lof_contamination=0.05, lof_dtype='model')),
    separator=', ', templates='openai_imagenet_80',
    # batch_size=1: SC-CLIP's LOF quantile and 0.4 similarity cut are discontinuous, and batched matmuls round
    # differently from the reference's one-crop-at-a-time runs, which can flip borderline tokens.
    test_cfg=dict(mode='slide', crop_size=224, stride=112, pad_multiple=None, batch_size=1),
    logit_scale=40, prob_thd=0.0, area_thd=None, pamr_steps=0, pamr_dilations=(8, 16))
