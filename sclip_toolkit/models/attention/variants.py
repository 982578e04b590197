"""The final-block variants that only change how q, k and v are mixed: stock CLIP, MaskCLIP, SCLIP, ClearCLIP, NACLIP.

See :mod:`.base` for the interface; ``docs/methods.md`` for each method's math and the references' settings.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F

from .base import FinalAttention, register_attention, self_softmax_attention
from .chunks import attend_in_chunks, fits_whole


@register_attention('vanilla')
class VanillaAttention(FinalAttention):
    """Stock CLIP: softmax(q k^T / sqrt(d)) v with residual and feed-forward; plain CLIP patch tokens."""

    def attend(self, q, k, v, ctx):
        return F.scaled_dot_product_attention(q, k, v)


@register_attention('maskclip')
class MaskCLIPAttention(FinalAttention):
    """MaskCLIP (Zhou et al., ECCV 2022): each token attends only to itself, so the output is out_proj(v).

    Residual and feed-forward are dropped, as in ClearCLIP's MaskCLIP baseline.
    """

    keep_residual = False
    keep_ffn = False

    def attend(self, q, k, v, ctx):
        return v


@register_attention('sclip')
class SCLIPAttention(FinalAttention):
    """SCLIP correlative self-attention (Wang et al., ECCV 2024; github.com/wangf3014/SCLIP).

    P = softmax(q q^T s) + softmax(k k^T s): a sum of two row-stochastic matrices (rows sum to 2).
    Residual and feed-forward are kept.
    """

    def attend(self, q, k, v, ctx):
        return self_softmax_attention(q, v) + self_softmax_attention(k, v)


@register_attention('clearclip')
class ClearCLIPAttention(FinalAttention):
    """ClearCLIP self-self attention (Lan et al., ECCV 2024; github.com/mc-lan/ClearCLIP).

    P = softmax(q q^T s) on the last block, with residual and feed-forward removed (``ignore_residual=True``).
    ``qk='qk'`` gives the shipped base config's q-k ablation ('vanilla' model type with the residual dropped).
    """

    keep_residual = False
    keep_ffn = False

    def __init__(self, qk: str = 'qq', keep_residual: Optional[bool] = None, keep_ffn: Optional[bool] = None):
        super().__init__(keep_residual, keep_ffn)
        if qk not in ('qq', 'qk', 'kk'):
            raise ValueError(f"ClearCLIPAttention qk must be 'qq', 'qk' or 'kk', got {qk!r}")
        self.qk = qk

    def attend(self, q, k, v, ctx):
        a, b = {'qq': (q, q), 'qk': (q, k), 'kk': (k, k)}[self.qk]
        return F.scaled_dot_product_attention(a, b, v)


def gaussian_window_bias(h: int, w: int, std: float, dtype: torch.dtype, device: torch.device,
                         rows: Optional[slice] = None) -> torch.Tensor:
    """NACLIP's neighbourhood prior Omega+ (1, T, T): exp(-|p - p'|^2 / (2 std^2)) between patches, 0 for CLS.

    The window values are built exactly as the reference does (float32 linspace coordinates, exp of the sum of
    squares), then gathered at the (row, column) offsets of every patch pair. ``rows``: only those query tokens'
    rows (1, r, T), the same values.
    """
    c = 1.0 / (std * 2 ** 0.5)
    u = torch.linspace(-(2 * h - 2) / 2 * c, (2 * h - 2) / 2 * c, 2 * h - 1)
    v = torch.linspace(-(2 * w - 2) / 2 * c, (2 * w - 2) / 2 * c, 2 * w - 1)
    uu, vv = torch.meshgrid(u, v, indexing='ij')
    window = torch.exp(-(uu ** 2 + vv ** 2))
    tokens = torch.arange(1 + h * w)[rows if rows is not None else slice(None)]
    patch = (tokens - 1).clamp(min=0)  # CLS (token 0) is zeroed below
    cols_all = torch.arange(w).repeat(h)
    omega = window[patch[:, None] // w - torch.arange(h).repeat_interleave(w)[None, :] + h - 1,
                   patch[:, None] % w - cols_all[None, :] + w - 1]
    omega = F.pad(omega, (1, 0)) * (tokens != 0)[:, None]
    return omega.unsqueeze(0).to(device=device, dtype=dtype)


@register_attention('naclip')
class NACLIPAttention(FinalAttention):
    """NACLIP neighbour-aware attention (Hajimiri et al., WACV 2025; github.com/sinahmr/NACLIP).

    P = softmax(k k^T s + Omega+) with a Gaussian spatial prior of std ``gaussian_std`` patches; the 'reduced'
    architecture keeps only the attention output (no residual, no feed-forward).
    """

    keep_residual = False
    keep_ffn = False

    def __init__(self, gaussian_std: float = 5.0, keep_residual: Optional[bool] = None,
                 keep_ffn: Optional[bool] = None):
        super().__init__(keep_residual, keep_ffn)
        if gaussian_std <= 0:
            raise ValueError(f'NACLIPAttention gaussian_std must be > 0, got {gaussian_std}')
        self.gaussian_std = gaussian_std
        self._bias_cache: Dict[tuple, torch.Tensor] = {}

    def attend(self, q, k, v, ctx):
        if not fits_whole(k.shape[-2]):  # a whole image's tokens (stitched): the prior's rows chunk by chunk
            return attend_in_chunks(k, k, v, bias=lambda rows: gaussian_window_bias(
                *ctx.grid, self.gaussian_std, k.dtype, k.device, rows)[:, None])
        key = (ctx.grid, k.dtype, k.device)
        if key not in self._bias_cache:
            # (1, 1, T, T): a 3-D mask is broadcast over the heads inside the kernel, (heads, T, T) in memory
            self._bias_cache[key] = gaussian_window_bias(*ctx.grid, self.gaussian_std, k.dtype, k.device)[:, None]
        return F.scaled_dot_product_attention(k, k, v, attn_mask=self._bias_cache[key])
