# RF-CLIP (AAAI 2026), the released code (liblacklucy/RF-CLIP @ c2b333e): every block before the last runs its attention
# unchanged ('vanilla'; the paper's refocusing is strategy='refocus'), then feature denoising on the ViT-B/16 sink
# channels, keeping its key-key map; the last block's attention is the mean of all layers' key-key maps, run on two
# similarity-enhanced inputs; the classifier moves the best name of each text cluster towards the window's features
# and adds the whole image's CLS similarity. See docs/methods.md#rf-clip. PAMR off as the reference's eval.py default;
# the paper's "with PAMR" row: --cfg-options "model.post_process=[dict(type='PAMR',steps=10,dilations=(8,16))]"
# (keep a config's ProbThreshold after it, e.g. rfclip_voc21.py's).
_base_ = ['../default_runtime.py']
model = dict(
    type='OVSegmentor',
    data_preprocessor=dict(type='OVSDataPreProcessor', short_side=336),  # Resize(scale=(2048, 336))
    clip=dict(type='CLIPBackbone', name='ViT-B/16', pretrained='openai', checkpoint=None,
              final_attn=dict(type='RFCLIPAttention', sink_channels='vit-b16', strategy='vanilla')),
    text_encoder=dict(type='CLIPTextClassifier', separator=', ', templates='openai_imagenet_80'),
    inference=dict(type='SlideInference', crop_size=224, stride=112),
    # every dataset config sets its own values; this base (what the API and demo use for a free-form vocabulary)
    # takes Context-59's, mid-range among the reference's configs (its constructor's zeros would turn the head off)
    head=dict(type='RFCLIPHead', global_semantics_weight=0.25, mean_vector_weight=0.04, h_threshold=0.09,
              global_source='image'),
    logit_scale=40,
    post_process=[],
    score_dtype='model')  # the reference's softmax runs in the model dtype (fp16 on CUDA)
