# SC-CLIP (Bai et al., 2025): LOF anomaly-token repair, affinity smoothing with layers 8 and 3, self-adjusted
# attention (layer-8 affinity + key-key), multi-level fusion of layers 3..9, no residual/FFN. See
# docs/methods.md#sc-clip. Layer indices are for ViT-B/16 (12 blocks); ViT-L/14: ./vitl14/scclip.py.
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=336),  # Resize(scale=(2048, 336))
    clip=dict(type='CLIPBackbone', name='ViT-B/16', pretrained='openai', checkpoint=None,
              final_attn=dict(type='SCCLIPAttention', pre_adjust_idx=8, post_adjust_idx=3, multi_start_idx=3,
                              multi_end_idx=10, res_cls=0.3, sim_threshold=0.4, attn_gamma=3.0, lof_neighbors=30,
                              lof_contamination=0.05, lof_dtype='model')),
    text_encoder=dict(type='CLIPTextClassifier', separator=', ', templates='openai_imagenet_80'),
    # batch_size=1: SC-CLIP's LOF quantile and 0.4 similarity cut are discontinuous, and batched matmuls round
    # differently from the reference's one-crop-at-a-time runs, which can flip borderline tokens.
    inference=dict(type='SlideInference', crop_size=224, stride=112, batch_size=1),
    logit_scale=40, post_process=[])
