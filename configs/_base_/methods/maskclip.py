# Baseline: MaskCLIP (Zhou et al., ECCV 2022; each token attends only to itself, no residual, no FFN) on SCLIP's
# inference settings.
_base_ = ['./sclip.py']
model = dict(clip=dict(final_attn=dict(_delete_=True, type='MaskCLIPAttention')))
