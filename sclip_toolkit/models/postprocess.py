"""Post-processing shared by all methods: PAMR refinement, query-to-class reduction, area and probability thresholds."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F


def _neighbour_offsets(d: int) -> list:
    """The 8 offsets of a dilated 3x3 neighbourhood, in the reference order (row-major, centre skipped)."""
    return [(dy, dx) for dy in (-d, 0, d) for dx in (-d, 0, d) if (dy, dx) != (0, 0)]


def _shift(x: torch.Tensor, dy: int, dx: int, d: int) -> torch.Tensor:
    """x[..., i + dy, j + dx] with replicate padding, for |dy|, |dx| <= d (x: (N, C, H, W))."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (d, d, d, d), mode='replicate')
    return padded[..., d + dy:d + dy + h, d + dx:d + dx + w]


def pamr_affinity(image: torch.Tensor, dilations: Sequence[int]) -> torch.Tensor:
    """PAMR's per-pixel weights over the 8*len(dilations) neighbours: (B, 8*len(dil), H, W), softmax-normalised.

    Args:
        image: guidance image (B, 3, H, W), fp32.
    """
    values, diffs = [], []
    for d in dilations:
        shifted = {o: _shift(image, *o, d) for o in [(dy, dx) for dy in (-d, 0, d) for dx in (-d, 0, d)]}
        values.extend(shifted.values())  # all 9 positions, centre included, for the spread
        diffs.extend((image - shifted[o]).abs() for o in _neighbour_offsets(d))
    std = torch.stack(values, dim=2).std(dim=2, keepdim=True)  # (B, 3, 1, H, W), unbiased
    diff = torch.stack(diffs, dim=2)  # (B, 3, K, H, W)
    logits = (-diff / (1e-8 + 0.1 * std)).mean(dim=1)  # mean over colour channels -> (B, K, H, W)
    return logits.softmax(dim=1)


def pamr(image: torch.Tensor, masks: torch.Tensor, steps: int = 10, dilations: Sequence[int] = (8, 16),
         chunk: Optional[int] = None) -> torch.Tensor:
    """Pixel-Adaptive Mask Refinement (Araslanov & Roth, CVPR 2020), as used by SCLIP/NACLIP/SC-CLIP.

    Each step replaces a pixel's scores by the affinity-weighted sum of its 8 neighbours at every dilation (the
    centre is not included), with replicate padding. Classes are independent, so ``chunk`` bounds memory by
    refining that many channels at a time with identical results.

    Args:
        image: guidance image (B, 3, H, W).
        masks: scores to refine (B, Q, h, w); resized to (H, W) first (bilinear, align_corners=True).
    """
    image = image.float()
    masks = F.interpolate(masks.float(), size=image.shape[-2:], mode='bilinear', align_corners=True)
    weights = pamr_affinity(image, dilations)  # (B, K, H, W)
    offsets = [o for d in dilations for o in _neighbour_offsets(d)]
    # Replicate padding by the largest dilation, then slicing, reads the same clamped neighbours as padding by each
    # dilation; one pad per step instead of one per neighbour.
    pad, (h, w) = max(dilations), masks.shape[-2:]
    chunk = chunk or masks.shape[1]
    out = []
    for part in masks.split(chunk, dim=1):
        for _ in range(steps):
            padded = F.pad(part, (pad, pad, pad, pad), mode='replicate')
            refined = torch.zeros_like(part)
            for k, (dy, dx) in enumerate(offsets):
                refined.addcmul_(weights[:, k:k + 1], padded[..., pad + dy:pad + dy + h, pad + dx:pad + dx + w])
            part = refined
        out.append(part)
    return torch.cat(out, dim=1)


def reduce_to_classes(probs: torch.Tensor, query_idx: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(Q, ...) name probabilities -> (C, ...) class probabilities: the max over each class's names."""
    if probs.shape[0] == num_classes and torch.equal(query_idx.cpu(), torch.arange(num_classes)):
        return probs
    out = probs.new_zeros((num_classes,) + probs.shape[1:])
    idx = query_idx.to(probs.device).view(-1, *([1] * (probs.dim() - 1))).expand_as(probs)
    return out.scatter_reduce(0, idx, probs, reduce='amax', include_self=True)


def apply_area_threshold(probs: torch.Tensor, area_thd: float) -> torch.Tensor:
    """Zero the foreground classes (c >= 1) whose argmax area is at most ``area_thd`` of the foreground area.

    The share is taken among pixels predicted as foreground, as SCLIP and SC-CLIP do. probs: (C, H, W).
    """
    pred = probs.argmax(dim=0)
    counts = torch.bincount(pred.flatten(), minlength=probs.shape[0]).to(probs.dtype)
    counts[0] = 0
    keep = counts > area_thd * counts.sum()
    keep[0] = True
    return probs * keep.view(-1, 1, 1).to(probs.dtype)


def probs_to_prediction(probs: torch.Tensor, prob_thd: float) -> torch.Tensor:
    """Label map (1, H, W): argmax (first index on ties), set to 0 where the top probability is below ``prob_thd``."""
    top, pred = probs.max(dim=0, keepdim=True)
    if prob_thd > 0:
        pred[top < prob_thd] = 0
    return pred


def slide_windows(height: int, width: int, crop: Tuple[int, int], stride: Tuple[int, int]
                  ) -> list:
    """Sliding-window boxes (y1, y2, x1, x2) covering an image, as mmseg and the references place them.

    The last window in each direction is shifted back to end at the border; an image smaller than the crop gets
    one window of its own size.
    """
    (ch, cw), (sh, sw) = crop, stride
    rows = max(height - ch + sh - 1, 0) // sh + 1
    cols = max(width - cw + sw - 1, 0) // sw + 1
    boxes = []
    for i in range(rows):
        for j in range(cols):
            y2, x2 = min(i * sh + ch, height), min(j * sw + cw, width)
            boxes.append((max(y2 - ch, 0), y2, max(x2 - cw, 0), x2))
    return boxes
