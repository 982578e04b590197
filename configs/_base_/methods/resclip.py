# ResCLIP (Yang et al., CVPR 2025): RCS (attention maps of blocks 5-8 mixed into the last one) and SFR (a first
# segmentation fed back as a patch affinity) on NACLIP's attention without residual and FFN, the reference's default
# (attn_strategy 'resclip', arch 'wo_resi'); crops 224/112, tau 40, class scores renormalised. The reference's
# constructor leaves temp_thd and the two mixing weights unset (each dataset config sets them): this dataset-free
# base takes its demo.py's values (temp_thd 0.10, RCS (2.0, 0.6), SFR (2.1, 0.6)). Other base attentions:
# --cfg-options model.clip.final_attn.base=sclip (or clearclip, vanilla). See docs/methods.md#resclip.
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=336),  # Resize(scale=(2048, 336))
    clip=dict(type='CLIPBackbone', name='ViT-B/16', pretrained='openai', checkpoint=None,
              final_attn=dict(type='ResCLIPAttention', base='naclip', use_rcs=True, use_sfr=True,
                              rcs_layers=[5, 6, 7, 8], attn_rcs_weights=[2.0, 0.6], attn_sfr_weights=[2.1, 0.6],
                              temp_thd=0.1, gaussian_std=5.0, delete_same_entity=True,
                              sfr_logit_scale=40,  # the reference uses the segmentor's logit_scale here
                              sfr_pamr_steps=10, sfr_pamr_dilations=[8, 16])),
    text_encoder=dict(type='CLIPTextClassifier', separator=', ', templates='openai_imagenet_80'),
    inference=dict(type='SlideInference', crop_size=224, stride=112),
    logit_scale=40,
    post_process=[dict(type='Renormalize')])  # the reference stores the class scores renormalised to sum 1
