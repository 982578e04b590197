# Baseline: stock CLIP's last block (dense patch tokens of the unmodified model) on SCLIP's inference settings.
_base_ = ['./sclip.py']
model = dict(clip=dict(final_attn=dict(_delete_=True, type='VanillaAttention')))
