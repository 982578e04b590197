# ClearCLIP (Lan et al., ECCV 2024): query-query attention in the last block, no residual, no FFN; short side 448,
# crops padded to a multiple of the patch size, fp16 end to end on CUDA. See docs/methods.md#clearclip.
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=448),  # Resize(scale=(2048, 448))
    clip=dict(type='CLIPBackbone', name='ViT-B/16', pretrained='openai', checkpoint=None,
              final_attn=dict(type='ClearCLIPAttention', qk='qq')),
    text_encoder=dict(type='CLIPTextClassifier', separator=',', templates='openai_imagenet_80'),
    inference=dict(type='SlideInference', crop_size=448, stride=224, pad_multiple='patch', accumulate_dtype='model'),
    logit_scale=50, post_process=[], score_dtype='model')
