"""Global attentions a block of rows at a time, so no (N, N) matrix of a whole image is held at once.

Stitched inference (``models/inference/stitched.py``) runs the last attention over every token of an image, and its
matrices grow with the square of the image: 26k DINO tokens make one (N, N) float32 matrix of 2.7 GB. The rows of
an attention are independent once its image-wide statistics are known (the mean similarity that ProxyCLIP,
SC-CLIP and CorrCLIP threshold at), so a variant computes them in row chunks of about ``MAX_ATTENTION_BYTES``.

Each variant keeps its whole-matrix computation (the reference's rounding) while one image's matrix fits in
``MAX_ATTENTION_BYTES`` (every per-window path of the shipped configs) and switches to chunks beyond. There only
the image-wide mean is computed another way (:func:`gram_mean`, float64), a rounding apart, so an entry within
about 1e-7 of the threshold may change side; everything else is the same arithmetic row by row.
"""
from __future__ import annotations

from typing import Callable, List, Optional

import torch
import torch.nn.functional as F

# Score matrices of global attentions are computed at most this large at once (bytes); read at each call, so
# setting it (e.g. in a test) moves both the whole-or-chunks choice and the chunk size.
MAX_ATTENTION_BYTES = 1 << 28


def _limit(max_bytes: Optional[int]) -> int:
    return MAX_ATTENTION_BYTES if max_bytes is None else max_bytes


def fits_whole(n: int, copies: int = 1, max_bytes: Optional[int] = None) -> bool:
    """Whether ``copies`` float32 (n, n) matrices fit in ``max_bytes`` (default ``MAX_ATTENTION_BYTES``)."""
    return copies * n * n * 4 <= _limit(max_bytes)


def row_chunks(n: int, row_bytes: int, max_bytes: Optional[int] = None) -> List[slice]:
    """Slices of ``range(n)`` whose rows (``row_bytes`` each) take at most about ``max_bytes`` (default
    ``MAX_ATTENTION_BYTES``; at least one row a chunk)."""
    rows = max(1, _limit(max_bytes) // max(1, row_bytes))
    return [slice(r, min(n, r + rows)) for r in range(0, n, rows)]


def gram_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of every entry of x xᵀ per image, (B,) float64, for tokens ``x`` (B, N, C), without the matrix.

    mean_ij <x_i, x_j> = |sum_i x_i|² / N²; in float64 this is within rounding of the float32 mean of the whole
    matrix that the references take.
    """
    total = x.double().sum(dim=1)
    return (total * total).sum(dim=-1) / (x.shape[1] ** 2)


def attend_in_chunks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: Optional[float] = None,
                     bias: Optional[Callable[[slice], torch.Tensor]] = None,
                     max_bytes: Optional[int] = None) -> torch.Tensor:
    """softmax(q kᵀ · scale + bias) v (B, heads, N, d), query rows in chunks whose (rows, N) score matrices stay
    within about ``max_bytes``.

    The fused kernel may fall back to an explicit (heads, N, N) matrix (one head of 768 channels on CUDA, a mask
    broadcast over heads), which grows with the square of the image. Rows are independent, so chunks change
    nothing. ``bias(rows)`` gives the additive mask of the query rows ``rows``, broadcastable to (B, heads, r, N).
    """
    b, heads, n, _ = q.shape
    chunks = row_chunks(n, b * heads * k.shape[-2] * 4, max_bytes)
    if len(chunks) == 1 and bias is None:
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
    return torch.cat([F.scaled_dot_product_attention(q[:, :, rows], k, v, scale=scale,
                                                     attn_mask=None if bias is None else bias(rows))
                      for rows in chunks], dim=2)


__all__ = ['MAX_ATTENTION_BYTES', 'attend_in_chunks', 'fits_whole', 'gram_mean', 'row_chunks']
