"""A plain-ViT trunk's last block in two halves, for stitched inference (``models/inference/stitched.py``).

:func:`window_state` runs each window up to block ``layer`` and keeps what that block needs; the caller stitches
those tokens over the whole image (``Placement``) and :func:`finish_state` runs the block once on them. One window's
state finished alone is the per-window result (``VFMFeatures(output='block')`` per window).
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch

from ..attention.chunks import attend_in_chunks
from .backbones import block_range


def window_state(trunk, x: torch.Tensor, layer: int = -1, output: str = 'features',
                 residual: str = 'final_norm') -> Tuple[Dict[str, torch.Tensor], Tuple[int, int]]:
    """What block ``layer`` needs from each window (B, 3, H, W), to run later on stitched tokens.

    Returns tokens by name, each (B, h*w, C) (names starting with 'prefix': (B, 1+R, C), CLS and registers),
    and the grid (h, w): 'qk' the finished output (q + k needs no other token); 'features' the block's input;
    'block' (OV-Stitcher) the block's per-head q, k, v inputs and the residual base: the block's input after
    the final norm (``residual='final_norm'``, the reference's ``get_intermediate_layers(n=2)[0]``) or as it is
    (``'block_input'``).
    """
    vit = trunk.vit
    x, grid = trunk.embed(x)
    count = block_range(layer, len(vit.blocks))
    x = vit.blocks[:count - 1](x)
    keep = 1 + trunk.spec.registers
    last = vit.blocks[count - 1]
    if output == 'qk':
        q, k, _ = last.attn.qkv(last.norm1(x)).chunk(3, dim=-1)
        return {'qk': (q + k)[:, keep:]}, grid
    if output == 'features':
        return {'x': x[:, keep:], 'prefix': x[:, :keep]}, grid
    q, k, v = last.attn.qkv(last.norm1(x))[:, keep:].chunk(3, dim=-1)
    base = vit.norm(x) if residual == 'final_norm' else x
    return {'base': base[:, keep:], 'q': q, 'k': k, 'v': v}, grid

def finish_state(trunk, state: Dict[str, torch.Tensor], grid: Tuple[int, int], layer: int = -1,
                 output: str = 'features', residual: str = 'final_norm') -> torch.Tensor:
    """Features (B, C, h, w) from :meth:`window_state`'s tokens (one window's, or stitched over an image).

    'features': block ``layer`` and the final norm on [prefix, tokens]. 'block': multi-head attention of the
    patch tokens among themselves (no CLS), added to the residual base, then the block's MLP; with
    ``residual='block_input'`` the final norm follows (the block's true output), else not (the reference).
    """
    vit = trunk.vit
    b, (h, w) = None, grid
    last = vit.blocks[block_range(layer, len(vit.blocks)) - 1]
    if output == 'qk':
        x = state['qk']
    elif output == 'features':
        keep = state['prefix'].shape[1]
        x = vit.norm(last(torch.cat([state['prefix'], state['x']], dim=1)))[:, keep:]
    else:
        heads = last.attn.num_heads
        # contiguous heads: stitched tokens come channel-major, and a fused kernel given a strided last dimension
        # falls back to the explicit (heads, N, N) matrix, which grows with the square of the image
        q, k, v = (state[n].unflatten(-1, (heads, -1)).transpose(1, 2).contiguous() for n in ('q', 'k', 'v'))
        mixed = attend_in_chunks(q, k, v).transpose(1, 2).flatten(2)
        x = state['base'] + last.ls1(last.attn.proj(mixed))
        x = x + last.ls2(last.mlp(last.norm2(x)))
        if residual == 'block_input':
            x = vit.norm(x)
    b = x.shape[0]
    return x.transpose(1, 2).reshape(b, -1, h, w)
