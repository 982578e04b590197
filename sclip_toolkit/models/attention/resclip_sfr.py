"""ResCLIP's semantic feedback: a first segmentation of one crop turned into a patch-affinity matrix.

Pieces of :class:`~sclip_toolkit.models.attention.resclip.ResCLIPAttention`, as plain functions of one image so
each can be tested alone. They follow the released code (yvhangyang/ResCLIP @ 0e085f7) step for step, quirks
included (docs/methods.md#resclip):

* the patch labels are *query* (name) indices, and pixels below the confidence threshold get index 0;
* the "same entity" path from patch a towards patch b is sampled at the steps of the *longest* pair of the grid,
  so for shorter pairs only the first part of the segment is checked;
* the Gaussian blur runs along each row of the (n, n) matrix, i.e. over the row-major patch index, across the
  ends of patch rows; rows are renormalised after it.

Shapes: n = h*w patches, row-major (patch a sits at row a // w, column a % w); T = 1 + n tokens.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F

# Elements of the (chunk, n, steps, 2) path-coordinate tensor built at once in the same-entity check.
_PATH_CHUNK_ELEMS = 1 << 23


def patch_labels(probs: torch.Tensor, patch_size: int, grid: Tuple[int, int], threshold: float) -> torch.Tensor:
    """The most frequent pixel label of each patch (h, w), from a first segmentation of one crop.

    Args:
        probs: label probabilities (Q, H, W) at the crop's pixel size.
        patch_size: the encoder's patch size p; pixels past h*p rows / w*p columns are ignored.
        grid: (h, w) patch grid.
        threshold: pixels whose top probability is below it get label 0.

    Returns:
        (h, w) int64 labels; ties between equally frequent labels are broken as ``torch.mode`` does.
    """
    h, w = grid
    labels = probs.argmax(dim=0)
    labels[probs.amax(dim=0) < threshold] = 0
    labels = labels[:h * patch_size, :w * patch_size]
    tiles = labels.reshape(h, patch_size, w, patch_size).permute(0, 2, 1, 3).reshape(h, w, -1)
    return torch.mode(tiles, dim=-1).values


def patch_positions(grid: Tuple[int, int], device: torch.device) -> torch.Tensor:
    """(n, 2) int64 (row, column) of each patch, row-major."""
    h, w = grid
    index = torch.arange(h * w, device=device)
    return torch.stack([torch.div(index, w, rounding_mode='floor'), index % w], dim=-1)


def chebyshev_steps(grid: Tuple[int, int], device: torch.device) -> torch.Tensor:
    """(n, n) int64 max(|row_a - row_b|, |col_a - col_b|): the steps of a straight path from patch a to patch b."""
    pos = patch_positions(grid, device)
    return (pos[None, :, :] - pos[:, None, :]).abs().amax(dim=-1)


def same_entity_paths(labels: torch.Tensor, path_check: str = 'reference') -> torch.Tensor:
    """Whether the straight path from patch a towards patch b stays on a's label, for every pair (n, n) bool.

    Points along the path are start * (1 - t) + end * t rounded to the nearest patch (half to even), in float32,
    for t = k / S, k = 0 .. S:

    * ``'reference'``: S = the largest step count of the grid for every pair, and only k <= s_ab are checked, so
      a pair shorter than the longest one is checked over the first s_ab / S of its segment (the released code);
    * ``'full'``: S = s_ab, the pair's own step count, so the whole segment from a to b is checked.

    Args:
        labels: (h, w) patch labels.
        path_check: 'reference' or 'full'.
    """
    h, w = labels.shape
    n = h * w
    flat = labels.reshape(-1)
    pos = patch_positions((h, w), labels.device)
    steps = chebyshev_steps((h, w), labels.device)  # (n, n)
    s_max = int(steps.max())
    k = torch.arange(s_max + 1, device=labels.device)
    t_global = torch.linspace(0, 1, s_max + 1, device=labels.device).view(1, 1, -1, 1)
    chunk = max(1, _PATH_CHUNK_ELEMS // max(1, n * (s_max + 1) * 2))
    valid = []
    for a0 in range(0, n, chunk):
        start = pos[a0:a0 + chunk, None, None, :]  # (c, 1, 1, 2)
        end = pos[None, :, None, :]  # (1, n, 1, 2)
        own = steps[a0:a0 + chunk]  # (c, n)
        if path_check == 'reference':
            t = t_global
        else:  # each pair's own steps; points past s_ab stay at b
            t = (k.view(1, 1, -1) / own.clamp(min=1).unsqueeze(-1)).clamp(max=1).unsqueeze(-1)
        points = (start * (1 - t) + end * t).round().long()  # (c, n, S + 1, 2)
        on_path = flat[points[..., 0] * w + points[..., 1]]  # (c, n, S + 1)
        checked = k.view(1, 1, -1) <= own.unsqueeze(-1)
        same = on_path == flat[a0:a0 + chunk].view(-1, 1, 1)
        valid.append((same | ~checked).all(dim=-1))
    return torch.cat(valid, dim=0)


def gaussian_kernel_1d(std: float, length: int, device: torch.device) -> torch.Tensor:
    """Normalised 1-D Gaussian of odd size min(length, int(6 std + 1)) (made odd by adding 1), float32."""
    size = min(length, int(6 * std + 1))
    size = size if size % 2 == 1 else size + 1
    x = torch.arange(size, device=device) - size // 2
    kernel = torch.exp(-(x ** 2) / (2 * std ** 2))
    return kernel / kernel.sum()


def sfr_matrix(labels: torch.Tensor, gaussian_std: float, delete_same_entity: bool = True,
               path_check: str = 'reference') -> torch.Tensor:
    """ResCLIP's semantic-feedback affinity (T, T) float32 of one crop from its patch labels (h, w).

    E[a, b] = 1 where patches a and b share a label (and on the diagonal), else 0. With ``delete_same_entity``,
    same-label pairs whose path (:func:`same_entity_paths`) leaves the label decay to exp(-s_ab / s_max). Each row
    is blurred with a 1-D Gaussian (zero padding) along the patch index, clipped at 0 and normalised to sum 1
    (+1e-8). The CLS row and column are 0.
    """
    h, w = labels.shape
    n = h * w
    flat = labels.reshape(-1)
    affinity = (flat[:, None] == flat[None, :]).float()
    affinity.fill_diagonal_(1.0)
    if delete_same_entity:
        steps = chebyshev_steps((h, w), labels.device)
        decay = torch.exp(-steps / int(steps.max()))
        affinity = torch.where(same_entity_paths(labels, path_check), affinity, affinity * decay)
    kernel = gaussian_kernel_1d(gaussian_std, n, labels.device)
    blurred = F.conv1d(affinity.unsqueeze(1), kernel.view(1, 1, -1), padding=kernel.numel() // 2).squeeze(1)
    blurred = F.relu(blurred)
    blurred = blurred / (blurred.sum(dim=1, keepdim=True) + 1e-8)
    return F.pad(blurred, (1, 0, 1, 0))
