"""SC-CLIP self-calibration (Bai et al., 2025; github.com/SuleBai/SC-CLIP @ 0417ba9) as a final-block variant.

SC-CLIP changes more than the last block's attention: it repairs anomaly tokens in the last block's input, smooths
tokens with affinities taken from intermediate layers and evaluates the last block twice, once on the repaired
penultimate tokens and once on a sum of intermediate residual streams. The pieces are plain functions so each can
be tested on its own; :class:`SCCLIPAttention` chains them (docs/methods.md).

Shapes: B batch, N = h*w patch tokens (row-major), T = 1 + N tokens with CLS first, D width.
All steps are per image, so a batch of crops gives the same result as the crops one at a time (the reference only
supports B = 1: its attention-map mean and head repeat mix images).
"""
from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import (AttnContext, FinalAttention, Recording, check_block_indices, merge_heads, qkv_projection,
                   register_attention)
from .chunks import fits_whole, gram_mean, row_chunks

# Elements of the (B, rows, N, D) difference tensor materialised at once when computing pairwise distances.
_DIST_CHUNK_ELEMS = 1 << 24


def nearest_sq_distances(x: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` smallest squared Euclidean distances from each token of ``x`` (B, N, D) to the tokens of its image,
    and their indices, (B, N, k) each.

    Computed as the reference does (norm of the difference, then squared, in ``x``'s dtype, so fp16 overflows to
    inf exactly where the reference's does), a chunk of rows at a time, each reduced to its top k before the next:
    the same values per row as topk over the whole (B, N, N) matrix, which is never held.
    """
    b, n, d = x.shape
    parts = [torch.topk(torch.linalg.vector_norm(x[:, rows, None, :] - x[:, None, :, :], dim=-1) ** 2, k, dim=-1,
                        largest=False) for rows in row_chunks(n, b * n * d, _DIST_CHUNK_ELEMS)]
    return torch.cat([p.values for p in parts], dim=1), torch.cat([p.indices for p in parts], dim=1)


def lof_outliers(x: torch.Tensor, n_neighbors: int = 30, contamination: float = 0.05
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Anomaly tokens by SC-CLIP's local outlier factor (its ``lof_pytorch``), per image.

    Reproduces the reference's deviations from textbook LOF, which define its outlier set: distances are squared;
    the reachability distance of a to its neighbour b uses a's own k-distance k_a, so LRD_a = k / mean(k_a, ...)
    = k / k_a; LOF_a = mean over a's neighbours b of LRD_b / LRD_a; outliers are the scores strictly above the
    (1 - contamination) quantile (linear interpolation, on float32 scores).

    When a grid has no more than ``n_neighbors`` tokens the neighbourhood shrinks to N - 1 (sklearn's rule; the
    reference would fail). NaN or inf scores (duplicate or overflowing tokens) can leave the set empty.

    Args:
        x: tokens (B, N, D); the computation runs in their dtype.
        n_neighbors: neighbourhood size k.
        contamination: expected share of outliers.

    Returns:
        outlier mask (B, N) bool and the LOF scores (B, N).
    """
    b, n, _ = x.shape
    k = min(n_neighbors, n - 1)
    if k < 1:
        return torch.zeros(b, n, dtype=torch.bool, device=x.device), torch.ones(b, n, dtype=x.dtype, device=x.device)
    knn_dist, knn_idx = nearest_sq_distances(x, k + 1)
    knn_dist, knn_idx = knn_dist[..., 1:], knn_idx[..., 1:]  # the first is the token itself
    k_dist = knn_dist[..., -1:].expand_as(knn_dist)
    reach = torch.maximum(knn_dist, k_dist)  # = k_dist everywhere; kept to match the reference's rounding
    lrd = k / torch.nan_to_num(reach.mean(dim=-1), nan=1e-6)  # (B, N)
    neighbour_lrd = lrd.gather(1, knn_idx.reshape(b, -1)).view(b, n, k)
    scores = (neighbour_lrd / lrd.unsqueeze(-1)).mean(dim=-1)
    threshold = torch.quantile(scores.float(), 1 - contamination, dim=-1, keepdim=True)
    # The reference compares against a 0-d float32 threshold, which type promotion casts to the scores' dtype.
    return scores > threshold.to(scores.dtype), scores


def mean_interpolation(x: torch.Tensor, outliers: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
    """Replace each outlier token by the mean of its non-outlier 8-neighbours on the patch grid.

    Outliers without a valid neighbour inside the grid, and all other tokens, are returned unchanged; an empty
    outlier set returns ``x`` as is (the reference crashes on it). Grid positions are row-major with the true
    column count, so non-square grids are handled correctly (the reference divides by the row count, which only
    agrees on square grids).

    Args:
        x: patch tokens (B, N, D), N = h*w.
        outliers: mask (B, N) bool.
        grid: (h, w).

    Returns:
        tokens (B, N, D).
    """
    b, n, d = x.shape
    h, w = grid
    fmap = x.transpose(1, 2).reshape(b, d, h, w)
    bad = outliers.view(b, 1, h, w)
    valid = (~bad).to(x.dtype)
    kernel = torch.ones(3, 3, dtype=x.dtype, device=x.device)
    kernel[1, 1] = 0  # neighbours only, not the token itself
    neighbour_sum = F.conv2d(fmap * valid, kernel.expand(d, 1, 3, 3), padding=1, groups=d)
    neighbour_count = F.conv2d(valid, kernel.view(1, 1, 3, 3), padding=1)
    mean = neighbour_sum / neighbour_count.clamp(min=1)
    fmap = torch.where(bad & (neighbour_count > 0), mean, fmap)
    return fmap.flatten(2).transpose(1, 2)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def cosine_affinity(x: torch.Tensor) -> torch.Tensor:
    """Cosine similarities (B, N, N) between the tokens (B, N, D) of each image."""
    x = _unit(x)
    return x @ x.transpose(1, 2)


def aggregate(affinity: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mix tokens (B, N, D) with the row-normalised affinity (B, N, N): A / (A 1 + 1e-6) x."""
    return (affinity / (affinity.sum(dim=-1, keepdim=True) + 1e-6)) @ x


def self_adjusted_attention(block: nn.Module, x: torch.Tensor, similarity: torch.Tensor, gamma: float = 3.0
                            ) -> torch.Tensor:
    """The last block's attention with SC-CLIP's mixed attention map, output after ``out_proj`` (B, N, D).

    P = (softmax(G) + softmax(k k^T s)) / 2 per head, with G = gamma (S - mean S) and entries G < 0 set to -inf
    (the mean is over all N^2 entries of the image's similarity S; the first term is shared by all heads).

    Args:
        block: CLIP's last residual block (its ``ln_1``, in- and out-projection are used).
        x: tokens (B, N, D) before ``ln_1``.
        similarity: S (B, N, N), not thresholded.
        gamma: sharpening factor of the similarity term.
    """
    _, k, v = qkv_projection(block, x)  # (B, heads, N, d)
    # Whole-tensor mean per image: a batched mean over dims rounds differently, and entries of G near 0 sit on
    # the mask's discontinuity, so the reduction must match the reference's (one image) to reproduce it.
    mean = torch.stack([s.mean() for s in similarity]).view(-1, 1, 1)
    g = (similarity - mean) * gamma
    p_sim = g.masked_fill(g < 0, float('-inf')).softmax(dim=-1).unsqueeze(1)
    p_key = ((k @ k.transpose(-2, -1)) * k.shape[-1] ** -0.5).softmax(dim=-1)
    return block.attn.out_proj(merge_heads(((p_sim + p_key) / 2) @ v))


def smooth_in_chunks(unit: torch.Tensor, x: torch.Tensor, threshold: float, chunks: List[slice]) -> torch.Tensor:
    """:func:`aggregate` of ``x`` (B, N, D) with the thresholded cosine affinity of ``unit`` (B, N, C) (unit-norm
    tokens), a chunk of affinity rows at a time."""
    out = x.new_empty(x.shape)
    for rows in chunks:
        affinity = unit[:, rows] @ unit.transpose(1, 2)
        out[:, rows] = aggregate(affinity.masked_fill_(affinity < threshold, 0.0), x)
    return out


def self_adjusted_attention_in_chunks(block: nn.Module, x: torch.Tensor, unit: torch.Tensor, gamma: float,
                                      chunks: List[slice]) -> torch.Tensor:
    """:func:`self_adjusted_attention` with S = the cosine affinity of ``unit`` (B, N, C), a chunk of query rows at
    a time; mean(S) from :func:`.chunks.gram_mean` (a rounding apart from the whole matrix's mean)."""
    _, k, v = qkv_projection(block, x)
    mean = gram_mean(unit).to(unit.dtype).view(-1, 1, 1)
    mixed = v.new_empty(v.shape)
    for rows in chunks:
        g = (unit[:, rows] @ unit.transpose(1, 2) - mean) * gamma
        p_sim = g.masked_fill_(g < 0, float('-inf')).softmax(dim=-1).unsqueeze(1)
        p_key = ((k[:, :, rows] @ k.transpose(-2, -1)) * k.shape[-1] ** -0.5).softmax(dim=-1)
        mixed[:, :, rows] = ((p_sim + p_key) / 2) @ v
    return block.attn.out_proj(merge_heads(mixed))


@register_attention('scclip')
class SCCLIPAttention(FinalAttention):
    """SC-CLIP: anomaly-token repair, affinity smoothing and multi-level fusion around the last block.

    Steps (block indices are 0-based outputs Z_j of the unmodified blocks; the last block's input is Z_{L-2}):

    1. outliers = LOF over the patch tokens of Z_{L-2}; those tokens are replaced by their neighbours' mean.
    2. S = cosine affinity of the repaired patch tokens of Z_pre; the repaired tokens are smoothed with S
       thresholded at ``sim_threshold``.
    3. Y = self-adjusted attention of the smoothed tokens + ``res_cls`` * CLS of Z_{L-2} (no residual, no FFN).
    4. Y is smoothed with the thresholded affinity of Z_post (not repaired).
    5. M = Z_start + ... + Z_{end-1}; its patch tokens go through the same attention (+ ``res_cls`` * M's CLS) and
       the same smoothing; the result is added to step 4's.

    Args:
        pre_adjust_idx: block whose output gives the attention and pre-smoothing affinity (ViT-B/16: 8).
        post_adjust_idx: block whose output gives the post-smoothing affinity (3).
        multi_start_idx / multi_end_idx: blocks [start, end) whose outputs are summed for the fusion (3, 10).
        res_cls: weight of the CLS token added to every output token (0.3).
        sim_threshold: affinities below this are dropped before smoothing (reference: 0.4, hard-coded).
        attn_gamma: sharpening factor of the affinity attention (reference: 3.0, hard-coded).
        lof_neighbors / lof_contamination: LOF neighbourhood size and outlier share (reference: 30, 0.05).
        lof_dtype: 'model' runs LOF in the activation dtype as the reference (fp16 on CUDA, where large token
            distances overflow to inf); 'fp32' runs it in float32 (changes the outlier set when that happens).
    """

    keep_residual = False
    keep_ffn = False

    def __init__(self, pre_adjust_idx: int = 8, post_adjust_idx: int = 3, multi_start_idx: int = 3,
                 multi_end_idx: int = 10, res_cls: float = 0.3, sim_threshold: float = 0.4, attn_gamma: float = 3.0,
                 lof_neighbors: int = 30, lof_contamination: float = 0.05, lof_dtype: str = 'model'):
        super().__init__()
        indices = dict(pre_adjust_idx=pre_adjust_idx, post_adjust_idx=post_adjust_idx,
                       multi_start_idx=multi_start_idx, multi_end_idx=multi_end_idx)
        for key, value in indices.items():
            if not isinstance(value, int) or value < 0:
                raise ValueError(f'SCCLIPAttention {key} must be a block index >= 0, got {value!r}')
        if multi_start_idx >= multi_end_idx:
            raise ValueError(f'SCCLIPAttention fuses blocks [multi_start_idx, multi_end_idx): need start < end, got '
                             f'{multi_start_idx} and {multi_end_idx}')
        if not isinstance(lof_neighbors, int) or lof_neighbors < 1:
            raise ValueError(f'SCCLIPAttention lof_neighbors must be an int >= 1, got {lof_neighbors!r}')
        if not 0 < lof_contamination < 1:
            raise ValueError(f'SCCLIPAttention lof_contamination must be in (0, 1), got {lof_contamination}')
        if lof_dtype not in ('model', 'fp32'):
            raise ValueError(f"SCCLIPAttention lof_dtype must be 'model' or 'fp32', got {lof_dtype!r}")
        self.pre_adjust_idx, self.post_adjust_idx = pre_adjust_idx, post_adjust_idx
        self.multi_start_idx, self.multi_end_idx = multi_start_idx, multi_end_idx
        self.res_cls, self.sim_threshold, self.attn_gamma = float(res_cls), float(sim_threshold), float(attn_gamma)
        self.lof_neighbors, self.lof_contamination, self.lof_dtype = lof_neighbors, float(lof_contamination), lof_dtype

    def recording(self, num_blocks: int) -> Recording:
        """The outputs of blocks pre, post and start..end-1; all must precede the last block."""
        wanted = sorted({self.pre_adjust_idx, self.post_adjust_idx,
                         *range(self.multi_start_idx, self.multi_end_idx)})
        check_block_indices(
            f'SCCLIPAttention (pre_adjust_idx={self.pre_adjust_idx}, post_adjust_idx={self.post_adjust_idx}, '
            f'multi_end_idx={self.multi_end_idx} exclusive)', wanted, num_blocks,
            '. ViT-B/16 (12 blocks) uses 8, 3, 3..10; ViT-L/14 (24 blocks) uses 16, 6, 8..19.')
        return Recording(hidden=tuple(wanted))

    def forward(self, block: nn.Module, x: torch.Tensor, ctx: AttnContext) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch tokens (B, N, D) of the calibrated last block for its input Z_{L-2} = ``x`` (B, T, D)."""
        grid = ctx.grid
        cls_token, patches = x[:, :1], x[:, 1:]
        lof_input = patches.float() if self.lof_dtype == 'fp32' else patches
        outliers, _ = lof_outliers(lof_input, self.lof_neighbors, self.lof_contamination)
        repaired = mean_interpolation(patches, outliers, grid)

        pre = mean_interpolation(ctx.block_output(self.pre_adjust_idx)[:, 1:], outliers, grid)
        if not fits_whole(patches.shape[1], copies=block.attn.num_heads + 4):  # a whole image's tokens (stitched)
            return self._forward_in_chunks(block, x, ctx, repaired, pre), grid
        similarity = cosine_affinity(pre)
        smoothed = aggregate(self._threshold(similarity), repaired)
        out = self_adjusted_attention(block, smoothed, similarity, self.attn_gamma) + self.res_cls * cls_token
        post = self._threshold(cosine_affinity(ctx.block_output(self.post_adjust_idx)[:, 1:]))
        out = aggregate(post, out)

        fused = self._fused(ctx)
        fused_out = self_adjusted_attention(block, fused[:, 1:], similarity, self.attn_gamma)
        fused_out = aggregate(post, fused_out + self.res_cls * fused[:, :1])
        return out + fused_out, grid

    def _forward_in_chunks(self, block: nn.Module, x: torch.Tensor, ctx: AttnContext, repaired: torch.Tensor,
                           pre: torch.Tensor) -> torch.Tensor:
        """:meth:`forward`'s steps 2-5 with every (N, N) affinity and attention taken a chunk of rows at a time."""
        b, n, _ = repaired.shape
        chunks = row_chunks(n, b * (block.attn.num_heads + 4) * n * 4)
        unit_pre = _unit(pre)
        unit_post = _unit(ctx.block_output(self.post_adjust_idx)[:, 1:])
        smoothed = smooth_in_chunks(unit_pre, repaired, self.sim_threshold, chunks)
        out = self_adjusted_attention_in_chunks(block, smoothed, unit_pre, self.attn_gamma, chunks)
        out = smooth_in_chunks(unit_post, out + self.res_cls * x[:, :1], self.sim_threshold, chunks)
        fused = self._fused(ctx)
        fused_out = self_adjusted_attention_in_chunks(block, fused[:, 1:], unit_pre, self.attn_gamma, chunks)
        return out + smooth_in_chunks(unit_post, fused_out + self.res_cls * fused[:, :1], self.sim_threshold, chunks)

    def _fused(self, ctx: AttnContext) -> torch.Tensor:
        """M = Z_start + ... + Z_{end-1} (B, T, D), summed in block order."""
        fused = torch.zeros_like(ctx.block_output(self.multi_start_idx))
        for index in range(self.multi_start_idx, self.multi_end_idx):
            fused = fused + ctx.block_output(index)
        return fused

    def _threshold(self, affinity: torch.Tensor) -> torch.Tensor:
        return affinity.masked_fill(affinity < self.sim_threshold, 0.0)

    def extra_repr(self) -> str:
        return (f'pre={self.pre_adjust_idx}, post={self.post_adjust_idx}, multi=[{self.multi_start_idx}, '
                f'{self.multi_end_idx}), res_cls={self.res_cls}, sim_threshold={self.sim_threshold}, '
                f'attn_gamma={self.attn_gamma}, lof=({self.lof_neighbors}, {self.lof_contamination}, '
                f'{self.lof_dtype})')
