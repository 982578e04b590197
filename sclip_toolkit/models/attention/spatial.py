"""A residual block recomputed on a token set of its own (OV-Stitcher's global spatial branch)."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import merge_heads, residual_and_ffn, split_heads
from .chunks import attend_in_chunks


def recompute_block(block: nn.Module, x: torch.Tensor, single_head: bool = True,
                    normed: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``block`` run on the tokens ``x`` (B, N, D) alone: attention among them, residual and MLP.

    Args:
        block: a CLIP residual block (``ln_1``, ``attn.in_proj_*``, ``attn.out_proj``, ``ln_2``, ``mlp``).
        x: the block's input tokens (B, N, D).
        single_head: one attention head over all D channels with the per-head scale d**-0.5 (OV-Stitcher's
            spatial branch, a reference quirk); False: the block's own heads.
        normed: ``ln_1(x)`` when it was computed elsewhere (stitched: the mean of the windows' ``ln_1`` outputs,
            as the reference stitches q, k and v); default ``ln_1(x)``.
    """
    attn = block.attn
    normed = block.ln_1(x) if normed is None else normed
    q, k, v = F.linear(normed, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    if single_head:
        scale = (x.shape[-1] // attn.num_heads) ** -0.5
        mixed = attend_in_chunks(q[:, None], k[:, None], v[:, None], scale)[:, 0]
    else:
        q, k, v = (split_heads(t, attn.num_heads) for t in (q, k, v))
        mixed = merge_heads(F.scaled_dot_product_attention(q, k, v))
    return residual_and_ffn(block, x, attn.out_proj(mixed), True, True)


__all__ = ['recompute_block']
