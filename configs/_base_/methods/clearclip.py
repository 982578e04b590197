# ClearCLIP (Lan et al., ECCV 2024): query-query attention in the last block, no residual, no FFN; short side 448,
# crops padded to a multiple of the patch size, fp16 end to end on CUDA.
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=448),  # Resize(scale=(2048, 448))
    clip=dict(type='CLIPBackbone', name='ViT-B/16', pretrained='openai', checkpoint=None,
              final_attn=dict(type='ClearCLIPAttention', qk='qq')),
    separator=',', templates='openai_imagenet_80',
    test_cfg=dict(mode='slide', crop_size=448, stride=224, pad_multiple='patch'),
    logit_scale=50, prob_thd=0.0, accumulate_dtype='model', score_dtype='model')
