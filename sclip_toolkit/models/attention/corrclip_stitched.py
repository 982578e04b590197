"""CorrCLIP's last block over the whole image: OV-Stitcher's stitched forward (github.com/atw617/OV-Stitcher).

Per window: every CLIP block but the last, and the mask class tokens (they attend to the window's own tokens).
Over the whole image (stitched, ``models/inference/stitched.py``):

* the VFM features (its last block global, ``VFMFeatures.window_state``), the region merging and the scope;
* the main branch: the windows' last-block values, stitched, resized to the VFM grid and mixed by the scope weights;
* the spatial branch: each middle block recomputed on the stitched inputs of that block (single-head by default,
  :func:`.spatial.recompute_block`), averaged, then the same scope attention;
* the semantic branch: each window's class tokens broadcast to its region cells on the window's VFM grid, stitched.

Region maps travel as the reference moves them: the map at the input size -> the VFM grid (merged there) -> back
to pixels -> cut per window -> the window's CLIP token grid (every step nearest). The class tokens of a window are
those of every merged region of the image (a region absent from the window gives a token that only sees CLS and
covers no cell). Without padding the grids are the reference's; padded windows keep all their tokens (see
``Placement``), where the reference drops or fails on them.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F

from ...exceptions import ConfigError
from .corrclip import nearest_ids as nearest_resize
from .corrclip import merge_regions, scope_weights, spatial_block_indices
from ..stages import stage
from .chunks import fits_whole, gram_mean, row_chunks
from .spatial import recompute_block


def _values(block, x: torch.Tensor) -> torch.Tensor:
    """Value projections (B, N, D) of tokens ``x`` (B, N, D) after the block's ``ln_1``."""
    attn, dim = block.attn, x.shape[-1]
    return F.linear(block.ln_1(x), attn.in_proj_weight[2 * dim:], attn.in_proj_bias[2 * dim:])


def _to_grid(tokens: torch.Tensor, grid: Tuple[int, int], out: Tuple[int, int]) -> torch.Tensor:
    """Tokens (N, D) on ``grid`` -> (I*J, D) on ``out`` (bilinear, as the reference resizes CLIP values)."""
    planes = tokens.t().reshape(1, -1, *grid)
    return F.interpolate(planes, size=out, mode='bilinear', align_corners=False)[0].flatten(1).t()


def scope_attention(cells: torch.Tensor, ids: torch.Tensor, tau: float, values: List[torch.Tensor],
                    max_bytes: Optional[int] = None) -> List[torch.Tensor]:
    """CorrCLIP's scope attention ``softmax(tau * S)`` (:func:`.corrclip.scope_weights`, S = cells cellsᵀ) applied
    to each of ``values`` (N, D): [A V for V in values].

    While S fits in ``max_bytes`` the matrix is built whole, as the reference does; beyond, rows are computed in
    chunks (memory linear in N) with mean(S) from :func:`.chunks.gram_mean` (see :mod:`.chunks`).
    """
    n = cells.shape[0]
    if fits_whole(n, max_bytes=max_bytes):
        weights = scope_weights(cells @ cells.t(), ids, tau)
        return [weights.to(v.dtype) @ v for v in values]
    mean = float(gram_mean(cells[None])[0])
    outs = [v.new_empty(v.shape) for v in values]
    for rows in row_chunks(n, n * 4 * 4, max_bytes):  # S, the mask and the weights of the rows
        weights = scope_weights(cells[rows] @ cells.t(), ids, tau, mean, rows.start)
        for out, v in zip(outs, values):
            out[rows] = weights.to(v.dtype) @ v
    return outs


def forward_stitched(attn, clip, sctx) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """OV-Stitcher's whole-image last block for a :class:`~.corrclip.CorrCLIPAttention` ``attn``.

    Returns the ``ln_post``-ed, weighted sum of the three branches (1, I*J, D) on the VFM's stitched grid (I, J).
    """
    if sctx.vfm_feats is None:
        raise ConfigError(f'{type(attn).__name__} needs VFM features: configure model.clip.vfm (OV-Stitcher: '
                          f"dict(type='VFMFeatures', family='dino', patch_size=8, output='block'))")
    with stage('final_attn.stitched', attn):
        return _forward_stitched(attn, clip, sctx)


def _forward_stitched(attn, clip, sctx) -> Tuple[torch.Tensor, Tuple[int, int]]:
    from ..inference.stitched import Accumulator

    windows, vplace = sctx.windows, sctx.vfm_placement
    out_grid = vplace.grid
    cells = F.normalize(sctx.vfm_feats[0].flatten(1).t().float(), dim=-1)  # (I*J, C)
    extent = windows.extent
    if sctx.regions is not None:
        height, width = windows.image_shape
        pixels = sctx.regions.window((height, width), (0, height, 0, width), windows.pad)
    else:
        pixels = torch.zeros(extent, dtype=torch.long)
    ids = nearest_resize(pixels.to(cells.device), out_grid).flatten()
    if attn.merge_eps is not None:
        ids = merge_regions(ids, cells, attn.merge_eps)
    region_ids = torch.unique(ids)  # (P,) every merged region of the image
    merged_pixels = nearest_resize(ids.view(out_grid), extent)

    blocks = clip.visual.transformer.resblocks
    spatial_idx = attn.spatial_blocks or spatial_block_indices(len(blocks))
    single = attn.spatial_attention == 'single_head'
    acc, sem, cls_sums = None, Accumulator(vplace), {}
    for index, crops in windows.batches():
        with stage('final_attn.windows', clip):  # the windows' CLIP blocks: CLIP's time, not the variant's
            x, ctx = clip.encode_to_last(crops, attn, vfm=False)
        if acc is None:
            acc = Accumulator(windows.placement(ctx.grid, clip.patch_size))
        inputs = [ctx.embedded] + [ctx.block_output(i) for i in range(len(blocks) - 1)]  # inputs[i]: block i's
        for i in spatial_idx:
            acc.add(f'x{i}', index, inputs[i][:, 1:])
            if single:
                acc.add(f'n{i}', index, blocks[i].ln_1(inputs[i][:, 1:]))
            else:
                cls_sums[i] = cls_sums.get(i, 0) + inputs[i][:, :1].sum(dim=0, keepdim=True)
        acc.add('v', index, _values(blocks[-1], x[:, 1:]))
        for k, w in enumerate(index):
            y1, _, x1, _ = windows.boxes[w]
            rows, cols = windows.padded_shape
            token_ids = nearest_resize(merged_pixels[y1:y1 + rows, x1:x1 + cols], ctx.grid).flatten()
            masks = token_ids[None] == region_ids[:, None]  # (P, h*w)
            classes = attn.class_tokens(blocks, [t[k] for t in inputs], masks)  # (P, D)
            cell_masks = F.interpolate(masks.view(1, -1, *ctx.grid).to(classes.dtype), size=vplace.window_grid,
                                       mode='nearest')[0].flatten(1)  # (P, cells of the window)
            sem.add('semantic', [w], (cell_masks.t() @ classes)[None])
    place = acc.placement
    n = len(windows.boxes)
    spatial = []
    for i in spatial_idx:
        x_i = acc.mean(f'x{i}')
        if single:
            spatial.append(recompute_block(blocks[i], x_i, single_head=True, normed=acc.mean(f'n{i}')))
        else:  # the block itself on the stitched tokens, CLS the mean over windows
            spatial.append(blocks[i](torch.cat([cls_sums[i] / n, x_i], dim=1))[:, 1:])
    spatial = torch.stack(spatial).mean(dim=0)[0]  # (Hc*Wc, D)
    block, ln_post = blocks[-1], clip.visual.ln_post
    main_v = _to_grid(acc.mean('v')[0], place.grid, out_grid)
    spatial_v = _to_grid(_values(block, spatial), place.grid, out_grid)
    main, spatial = scope_attention(cells, ids, attn.tau, [main_v, spatial_v])
    out = (ln_post(block.attn.out_proj(main))
           + attn.spatial_weight * ln_post(block.attn.out_proj(spatial))
           + attn.semantic_weight * ln_post(sem.mean('semantic')[0]))
    return out[None], out_grid
