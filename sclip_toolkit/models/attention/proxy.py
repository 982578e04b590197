"""ProxyCLIP's proxy attention (Lan et al., ECCV 2024; github.com/mc-lan/ProxyCLIP).

CLIP's last block mixes its *values* with an attention computed from a vision foundation model's features:
``S`` = cosine similarities of the VFM patch features, ``A = gamma * (S - beta * mean(S))``, entries with ``A < 0``
masked to -inf, ``P = softmax(A)`` shared by all heads, output ``out_proj(P v)``. CLIP's values are resized
(bilinear) from CLIP's patch grid to the VFM's, so the output tokens live on the VFM grid. There is no residual,
no feed-forward and no CLS token; q and k are unused.

Reference behaviours kept or changed (docs/methods.md#proxyclip):
* fixed: the values are laid out on CLIP's true (h, w) grid and the output grid is the VFM's true (I, J). The
  reference builds both from the crop's width and height as if square; non-square crops crash there (DINO,
  DINOv2) or scramble tokens (SAM, MAE). Square crops, which every shipped config produces, are unaffected.
* fixed by default: where every affinity of a token falls below beta * mean (e.g. a uniform image), the
  reference masks the whole row and its softmax gives NaN; here such a token attends to itself (its own value),
  which changes nothing where the reference is finite. ``guard_empty_rows=False`` reproduces the NaN.
* generalised: ``mean(S)`` is taken per image (the reference takes it over the batch, which is one crop).
* bounded: beyond ``MAX_ATTENTION_BYTES`` per image (stitched whole images) P is applied in row chunks
  (:func:`proxy_attention_in_chunks`, :mod:`.chunks`).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...exceptions import ConfigError
from .base import AttnContext, FinalAttention, register_attention
from .chunks import fits_whole, gram_mean, row_chunks


def proxy_attention_weights(feats: torch.Tensor, beta: float = 1.2, gamma: float = 3.0,
                            guard_empty_rows: bool = False, dtype: Optional[torch.dtype] = None,
                            mean_over: str = 'image') -> torch.Tensor:
    """ProxyCLIP's attention matrix P (B, M, M), M = I * J, from VFM features (B, C, I, J).

    Similarities are computed in the features' dtype and the softmax in ``dtype`` (default: the same), as the
    reference does with its fp16 VFM and CLIP. Rows sum to 1, or are NaN where every entry is masked (unless
    ``guard_empty_rows``). ``mean_over``: 'image' (each image's own mean similarity) or 'batch' (one mean over the
    whole batch, as Trident, which runs all windows of an image in one batch).
    """
    f = F.normalize(feats.flatten(2), dim=1)  # (B, C, M), unit columns
    sim = torch.einsum('bcm,bcn->bmn', f, f)  # (B, M, M) cosine similarities
    mean = sim.mean() if mean_over == 'batch' else sim.mean(dim=(1, 2), keepdim=True)
    return _proxy_rows(sim, mean, beta, gamma, guard_empty_rows, 0, dtype or sim.dtype)


def _proxy_rows(sim: torch.Tensor, mean: torch.Tensor, beta: float, gamma: float, guard_empty_rows: bool,
                first_row: int, dtype: torch.dtype) -> torch.Tensor:
    """Rows ``first_row``.. of P from the same rows of S, ``sim`` (B, r, M), and the mean of the whole S."""
    logits = (sim - mean * beta) * gamma
    drop = logits < 0
    if guard_empty_rows:  # a token's similarity to itself is its row's maximum, so this only rescues empty rows
        index = torch.arange(sim.shape[1], device=sim.device)
        drop[:, index, first_row + index] = False
    return logits.masked_fill_(drop, float('-inf')).to(dtype).softmax(dim=-1)


def proxy_attention_in_chunks(feats: torch.Tensor, v: torch.Tensor, beta: float = 1.2, gamma: float = 3.0,
                              guard_empty_rows: bool = False, mean_over: str = 'image',
                              max_bytes: Optional[int] = None) -> torch.Tensor:
    """``P v`` (B, M, D) for :func:`proxy_attention_weights`' P of ``feats`` (B, C, I, J), P's rows a chunk at a time
    (memory linear in M); mean(S) from :func:`.chunks.gram_mean` (a rounding apart from the whole matrix's)."""
    b, m = feats.shape[0], feats.shape[-2] * feats.shape[-1]
    f = F.normalize(feats.flatten(2), dim=1)  # (B, C, M)
    means = gram_mean(f.transpose(1, 2))
    mean = (means.mean() if mean_over == 'batch' else means).to(f.dtype).view(-1, 1, 1)
    out = v.new_empty(v.shape)
    for rows in row_chunks(m, b * m * 4 * 3, max_bytes):  # S, its mask and P of the rows
        sim = torch.einsum('bcm,bcn->bmn', f[:, :, rows], f)
        out[:, rows] = torch.bmm(_proxy_rows(sim, mean, beta, gamma, guard_empty_rows, rows.start, v.dtype), v)
    return out


def values_on_grid(block: nn.Module, x: torch.Tensor, grid: Tuple[int, int], out_grid: Tuple[int, int]
                   ) -> torch.Tensor:
    """CLIP's value vectors of the patch tokens, resized from the CLIP grid to ``out_grid``: (B, I*J, D).

    Heads share ProxyCLIP's attention matrix, so they need not be split: head i's values are channels
    [i*d, (i+1)*d) and the bilinear resize acts on each channel alone.
    """
    attn = block.attn
    dim = x.shape[-1]
    v = F.linear(block.ln_1(x), attn.in_proj_weight[2 * dim:], attn.in_proj_bias[2 * dim:])
    b, (h, w) = x.shape[0], grid
    v = v[:, 1:].transpose(1, 2).reshape(b, dim, h, w)  # drop CLS; row-major patches -> (B, D, h, w)
    v = F.interpolate(v, size=out_grid, mode='bilinear', align_corners=False)
    return v.flatten(2).transpose(1, 2)


@register_attention('proxy')
class ProxyAttention(FinalAttention):
    """ProxyCLIP proxy attention: VFM affinities applied to CLIP's values; output on the VFM's patch grid.

    Args:
        beta: the adaptive threshold: affinities below ``beta * mean(S)`` are masked (ProxyCLIP: 1.2).
        gamma: temperature of the softmax (ProxyCLIP: 3.0).
        guard_empty_rows: let tokens whose whole row is masked attend to themselves instead of giving NaN.
        fallback: without VFM features: None raises an error; 'vanilla' runs the stock last block and drops CLS
            (the reference's path when it has no VFM).
        mean_over: 'image' (ProxyCLIP, one crop per pass) or 'batch' (Trident: one mean over all windows).
    """

    keep_residual = False
    keep_ffn = False

    def __init__(self, beta: float = 1.2, gamma: float = 3.0, guard_empty_rows: bool = True,
                 fallback: Optional[str] = None, mean_over: str = 'image'):
        super().__init__()
        if mean_over not in ('image', 'batch'):
            raise ValueError(f"ProxyAttention mean_over must be 'image' or 'batch', got {mean_over!r}")
        self.mean_over = mean_over
        if fallback not in (None, 'vanilla'):
            raise ValueError(f"ProxyAttention fallback must be None or 'vanilla', got {fallback!r}")
        if gamma <= 0:
            raise ValueError(f'ProxyAttention gamma must be > 0, got {gamma}')
        self.beta, self.gamma = float(beta), float(gamma)
        self.guard_empty_rows, self.fallback = guard_empty_rows, fallback

    def forward(self, block: nn.Module, x: torch.Tensor, ctx: AttnContext) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Tokens (B, T, D) before the last block -> (B, I*J, D) on the VFM grid (I, J)."""
        feats = ctx.vfm_feats
        if feats is None:
            if self.fallback == 'vanilla':
                return block(x)[:, 1:], ctx.grid
            raise ConfigError('ProxyAttention needs vision-foundation-model features (ctx.vfm_feats)'
                              ": configure model.clip.vfm, e.g. dict(type='VFMFeatures', family='dino', "
                              "arch='vit_base', patch_size=8), or set fallback='vanilla'")
        if feats.shape[0] != x.shape[0]:
            raise ValueError(f'VFM features for {feats.shape[0]} images but {x.shape[0]} CLIP inputs')
        out_grid = tuple(feats.shape[-2:])
        v = values_on_grid(block, x, ctx.grid, out_grid)
        if fits_whole(out_grid[0] * out_grid[1]):
            weights = proxy_attention_weights(feats, self.beta, self.gamma, self.guard_empty_rows, v.dtype,
                                              self.mean_over)
            mixed = torch.bmm(weights, v)
        else:  # a whole image's grid (stitched): rows in chunks
            mixed = proxy_attention_in_chunks(feats, v, self.beta, self.gamma, self.guard_empty_rows, self.mean_over)
        return block.attn.out_proj(mixed), out_grid

    def extra_repr(self) -> str:
        return (f'beta={self.beta}, gamma={self.gamma}, guard_empty_rows={self.guard_empty_rows}, '
                f'mean_over={self.mean_over}')
