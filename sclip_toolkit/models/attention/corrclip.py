"""CorrCLIP's last block (Zhang et al., ICCV 2025; github.com/zdk258/CorrCLIP, CorrCLIPv1).

Three changes to CLIP's final patch features, all on the vision foundation model's (VFM) patch grid:

* **Scope**: patches attend only within their region (from a region generator), after regions whose mean VFM
  features are similar are merged; unsegmented patches (the smallest id in the window) attend to any patch more
  similar than the window's mean similarity, and every patch may attend to them under the same rule.
* **Values**: the attention weights are softmax(tau * S) over that scope, S the cosine similarity of the VFM's
  last-block q + k, applied to CLIP's values resized to the VFM grid (as ProxyCLIP); no residual, no MLP.
* **Branches**: the same attention on the values of the mean of middle blocks' outputs (spatial branch), and one
  mask class token per region, a copy of CLS that attends only to CLS and its region's patches through every block
  (semantic branch), broadcast back to the region. The three are ``ln_post``-ed and summed with weights.

The patch tokens evolve exactly as in plain CLIP (mask class tokens read them, never the reverse), so the encoder's
recorded block inputs are enough to run the class tokens beside them. The region map arrives per window as
``ctx.regions`` (B, h, w) ids at the window's pixel size (padding has its own id); without it the whole window is
one unsegmented region. Batches are handled one window at a time (scopes differ per window).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...exceptions import ConfigError
from .base import AttnContext, FinalAttention, Recording, merge_heads, register_attention, residual_and_ffn, \
    split_heads
from .proxy import values_on_grid
from .spatial import recompute_block

# CorrCLIP's number of middle blocks averaged for the spatial branch, by depth (blocks L-2-n .. L-3, 0-based)
SPATIAL_BLOCKS = {12: 5, 24: 12, 32: 28}
MERGED_BASE = 10000  # merged regions are relabelled 10000 + component (CorrCLIP's values; only their order matters)


def spatial_block_indices(num_blocks: int) -> List[int]:
    """Blocks whose outputs the spatial branch averages: (L-2-n .. L-3), n from :data:`SPATIAL_BLOCKS` or L-4."""
    n = SPATIAL_BLOCKS.get(num_blocks, num_blocks - 4)
    indices = list(range(max(num_blocks - 2 - n, 0), num_blocks - 2))
    return indices or [num_blocks - 2]  # very shallow towers: the last recorded block


def connected_components(adjacent: torch.Tensor) -> torch.Tensor:
    """Component label (R,) of each node of a symmetric boolean adjacency (R, R), numbered by smallest member.

    With ``min_samples=1`` every point is a DBSCAN core point, so DBSCAN's clusters are exactly these components.
    """
    adjacent = adjacent.cpu()
    labels = torch.full((adjacent.shape[0],), -1, dtype=torch.long)
    count = 0
    for seed in range(adjacent.shape[0]):
        if labels[seed] >= 0:
            continue
        frontier = torch.zeros_like(labels, dtype=torch.bool)
        frontier[seed] = True
        members = frontier.clone()
        while frontier.any():
            frontier = adjacent[frontier].any(dim=0) & ~members
            members |= frontier
        labels[members] = count
        count += 1
    return labels


def merge_regions(ids: torch.Tensor, feats: torch.Tensor, eps: float) -> torch.Tensor:
    """CorrCLIP's mask merging: regions with similar mean features share one id.

    Args:
        ids: (N,) region ids of the N grid cells; the smallest is "unsegmented" and is left alone.
        feats: (N, C) unit-norm features of the cells.
        eps: regions r, r' join when max(K) - K[r, r'] <= eps, K the cosine similarity of their mean features.

    Returns:
        (N,) ids: unsegmented cells keep theirs, the others get ``MERGED_BASE + component``. Unchanged when fewer
        than two segmented regions are present.
    """
    values, inverse = torch.unique(ids, return_inverse=True)
    if len(values) <= 2:
        return ids
    sums = feats.new_zeros((len(values), feats.shape[1])).index_add_(0, inverse, feats)
    counts = torch.bincount(inverse, minlength=len(values)).to(feats.dtype)
    means = F.normalize(sums / counts[:, None], dim=-1)[1:]
    sim = means @ means.t()
    labels = connected_components((sim.max() - sim) <= eps).to(ids.device)
    relabelled = torch.cat([values[:1], MERGED_BASE + labels])
    return relabelled[inverse]


def scope_weights(sim: torch.Tensor, ids: torch.Tensor, tau: float, mean: Optional[float] = None,
                  first_row: int = 0) -> torch.Tensor:
    """softmax(tau * S) over CorrCLIP's scope (N, N), or over rows ``first_row``.. of it when ``sim`` holds only those
    rows (r, N) and ``mean`` is the mean of the whole S (default: ``sim.mean()``, the whole matrix given).

    A cell may attend to cells of its own region; any pair with an unsegmented cell (the smallest id) is allowed
    where S exceeds the mean of S. The diagonal is always allowed, which changes nothing unless S is constant
    (where the reference's softmax of an empty row is NaN).
    """
    _, inverse = torch.unique(ids, return_inverse=True)
    free = inverse == 0
    rows = slice(first_row, first_row + sim.shape[0])
    allowed = (inverse[rows, None] == inverse[None, :]) & ~free[rows, None]
    allowed |= (free[rows, None] | free[None, :]) & (sim > (sim.mean() if mean is None else mean))
    index = torch.arange(sim.shape[0], device=sim.device)
    allowed[index, first_row + index] = True
    return (tau * sim).masked_fill_(~allowed, float('-inf')).softmax(dim=-1)


def region_token_masks(ids: torch.Tensor) -> torch.Tensor:
    """(P, N) bool: cell n belongs to the p-th smallest region id of ``ids`` (N,)."""
    values, inverse = torch.unique(ids, return_inverse=True)
    return inverse[None, :] == torch.arange(len(values), device=ids.device)[:, None]


def class_token_step(block: nn.Module, tokens: torch.Tensor, context: torch.Tensor, allowed: torch.Tensor
                     ) -> torch.Tensor:
    """One residual block for P mask class tokens (P, D) that attend to ``context`` (1+N, D) where ``allowed``
    (P, 1+N) is set: the block's own projections, residual and MLP."""
    attn = block.attn
    dim = tokens.shape[-1]
    q = F.linear(block.ln_1(tokens), attn.in_proj_weight[:dim], attn.in_proj_bias[:dim])
    k, v = F.linear(block.ln_1(context), attn.in_proj_weight[dim:], attn.in_proj_bias[dim:]).chunk(2, dim=-1)
    q, k, v = (split_heads(t[None], attn.num_heads) for t in (q, k, v))
    mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    return residual_and_ffn(block, tokens[None], attn.out_proj(merge_heads(mixed)), True, True)[0]


@register_attention('corrclip')
class CorrCLIPAttention(FinalAttention):
    """CorrCLIP's region-scoped, VFM-correlation attention with spatial and semantic branches.

    Needs VFM features (``model.clip.vfm``, CorrCLIP: DINO ViT-B/8 with ``output='qk'``) and, for its scope, a
    region generator (``model.region_generator``).

    Args:
        tau: softmax temperature on the cosine similarities (CorrCLIP: 4).
        merge_eps: distance threshold of the region merging (CorrCLIP: 0.2; None: no merging).
        spatial_weight / semantic_weight: weights of the spatial and semantic branches (CorrCLIP: 1.0 / 0.5).
        spatial_blocks: block indices averaged for the spatial branch (default: :func:`spatial_block_indices`).
        spatial_attention: how the spatial branch gets those blocks' outputs: 'block' (the blocks' own outputs,
            CorrCLIP) or 'single_head' (each block recomputed on its patch tokens with one attention head over all
            channels and no CLS, OV-Stitcher's global spatial branch; :func:`.corrclip_stitched.recompute_block`).

    Runs stitched too (``StitchedInference``, :func:`.corrclip_stitched.forward_stitched`): the VFM correlations,
    the region merging, the scope and the spatial branch over the whole image; the class tokens per window.
    """

    keep_residual = False
    keep_ffn = False
    applies_ln_post = True  # the branches are ln_post-ed one by one before they are summed

    def __init__(self, tau: float = 4.0, merge_eps: Optional[float] = 0.2, spatial_weight: float = 1.0,
                 semantic_weight: float = 0.5, spatial_blocks: Optional[Sequence[int]] = None,
                 spatial_attention: str = 'block'):
        super().__init__()
        self.tau, self.merge_eps = float(tau), merge_eps
        self.spatial_weight, self.semantic_weight = float(spatial_weight), float(semantic_weight)
        self.spatial_blocks = list(spatial_blocks) if spatial_blocks is not None else None
        if spatial_attention not in ('block', 'single_head'):
            raise ValueError(f"{type(self).__name__} spatial_attention must be 'block' or 'single_head', got "
                             f"{spatial_attention!r}")
        self.spatial_attention = spatial_attention

    def recording(self, num_blocks: int) -> Recording:
        # every block's output: the class tokens attend to each block's input
        return Recording(hidden=tuple(range(num_blocks - 1)))

    def forward(self, block: nn.Module, x: torch.Tensor, ctx: AttnContext) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Tokens (B, T, D) before the last block -> ln_post-ed features (B, I*J, D) on the VFM grid (I, J)."""
        feats = ctx.vfm_feats
        if feats is None:
            raise ConfigError("CorrCLIPAttention needs VFM features: configure model.clip.vfm, e.g. "
                              "dict(type='VFMFeatures', family='dino', arch='vit_base', patch_size=8, output='qk')")
        num_blocks = len(ctx.blocks)
        inputs = [ctx.embedded] + [ctx.block_output(i) for i in range(num_blocks - 1)]
        spatial_idx = self.spatial_blocks or spatial_block_indices(num_blocks)
        if self.spatial_attention == 'block':
            spatial = torch.stack([ctx.block_output(i) for i in spatial_idx]).mean(dim=0)
        else:  # one head, patches only: the CLS slot is a placeholder that values_on_grid drops
            spatial = torch.stack([recompute_block(ctx.blocks[i], inputs[i][:, 1:], single_head=True)
                                   for i in spatial_idx]).mean(dim=0)
            spatial = torch.cat([spatial[:, :1], spatial], dim=1)
        out_grid = tuple(feats.shape[-2:])
        main_v = values_on_grid(block, x, ctx.grid, out_grid)  # (B, I*J, D)
        spatial_v = values_on_grid(block, spatial, ctx.grid, out_grid)
        out = []
        for b in range(x.shape[0]):
            cell_feats = F.normalize(feats[b].flatten(1).t().float(), dim=-1)  # (I*J, C)
            ids = self._cell_ids(ctx.regions, b, out_grid, x.device)
            if self.merge_eps is not None:
                ids = merge_regions(ids, cell_feats, self.merge_eps)
            weights = scope_weights(cell_feats @ cell_feats.t(), ids, self.tau).to(main_v.dtype)
            token_masks = region_token_masks(nearest_ids(ids.view(out_grid), ctx.grid).flatten())  # (P, h*w)
            classes = self.class_tokens(ctx.blocks, [t[b] for t in inputs], token_masks)  # (P, D)
            cell_masks = nearest_ids(token_masks.view(-1, *ctx.grid), out_grid).flatten(1)  # (P, I*J)
            semantic = cell_masks.t().to(classes.dtype) @ classes
            ln_post = ctx.visual.ln_post
            out.append(ln_post(block.attn.out_proj(weights @ main_v[b]))
                       + self.spatial_weight * ln_post(block.attn.out_proj(weights @ spatial_v[b]))
                       + self.semantic_weight * ln_post(semantic))
        return torch.stack(out), out_grid

    def forward_stitched(self, clip, sctx) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """The whole image's tokens (1, I*J, D) on the VFM's stitched grid (see :mod:`.corrclip_stitched`)."""
        from .corrclip_stitched import forward_stitched
        return forward_stitched(self, clip, sctx)

    @staticmethod
    def _cell_ids(regions: Optional[torch.Tensor], index: int, grid: Tuple[int, int], device) -> torch.Tensor:
        """Region ids (I*J,) of window ``index`` on the VFM grid (nearest); all 0 without regions."""
        if regions is None:
            return torch.zeros(grid[0] * grid[1], dtype=torch.long, device=device)
        return nearest_ids(regions[index].to(device), grid).flatten()

    @staticmethod
    def class_tokens(blocks: Sequence[nn.Module], inputs: List[torch.Tensor], token_masks: torch.Tensor
                      ) -> torch.Tensor:
        """Mask class tokens (P, D) after every block; ``inputs[i]`` (1+N, D) is block i's input."""
        allowed = torch.cat([torch.ones_like(token_masks[:, :1]), token_masks], dim=1)  # CLS + own region
        tokens = inputs[0][:1].expand(token_masks.shape[0], -1)
        for blk, context in zip(blocks, inputs):
            tokens = class_token_step(blk, tokens, context, allowed)
        return tokens

    def extra_repr(self) -> str:
        return (f'tau={self.tau}, merge_eps={self.merge_eps}, spatial_weight={self.spatial_weight}, '
                f'semantic_weight={self.semantic_weight}, spatial_attention={self.spatial_attention}')


def nearest_ids(ids: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Nearest resize (PyTorch's legacy rule, via float as the reference) of an integer map (..., h, w)."""
    if tuple(ids.shape[-2:]) == tuple(size):
        return ids
    lead = ids.shape[:-2]
    out = F.interpolate(ids.reshape(-1, 1, *ids.shape[-2:]).float(), size=tuple(size), mode='nearest')
    return out.reshape(*lead, *size).to(ids.dtype)
