"""PAMR: Pixel-Adaptive Mask Refinement (Araslanov & Roth, CVPR 2020) of the logits, as SCLIP/NACLIP/SC-CLIP use it."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from ..scoring.banding import resize_rows
from .base import PostProcessStep, StepContext


def _neighbour_offsets(d: int) -> list:
    """The 8 offsets of a dilated 3x3 neighbourhood, in the reference order (row-major, centre skipped)."""
    return [(dy, dx) for dy in (-d, 0, d) for dx in (-d, 0, d) if (dy, dx) != (0, 0)]


def _replicate_border(padded: torch.Tensor, pad: int) -> None:
    """Fill the ``pad``-wide border of ``padded`` (N, C, h + 2 pad, w + 2 pad) in place by repeating the edge pixels
    of its interior, the values ``F.pad(interior, (pad,) * 4, mode='replicate')`` gives."""
    h, w = padded.shape[-2] - 2 * pad, padded.shape[-1] - 2 * pad
    rows = padded[..., pad:pad + h, :]
    rows[..., :pad] = rows[..., pad:pad + 1]
    rows[..., pad + w:] = rows[..., pad + w - 1:pad + w]
    padded[..., :pad, :] = padded[..., pad:pad + 1, :]
    padded[..., pad + h:, :] = padded[..., pad + h - 1:pad + h, :]


def pamr_affinity(image: torch.Tensor, dilations: Sequence[int]) -> torch.Tensor:
    """PAMR's per-pixel weights over the 8*len(dilations) neighbours: (B, 8*len(dil), H, W), softmax-normalised.

    For every neighbour k (the 8 of each dilation, row-major, centre skipped): the colour difference |I - I_k|
    over 0.1 x the spread of the 9 pixels of every dilation's 3x3 neighbourhood (unbiased std over 9*len(dil)
    values, per colour channel), negated, averaged over colours, softmax over k.

    Args:
        image: guidance image (B, 3, H, W), fp32.
    """
    (h, w), pad = image.shape[-2:], max(dilations)
    # one replicate pad by the largest dilation: slicing it reads the same clamped pixels as a pad per neighbour
    padded = F.pad(image, (pad, pad, pad, pad), mode='replicate')

    def shifted(dy: int, dx: int) -> torch.Tensor:
        return padded[..., pad + dy:pad + dy + h, pad + dx:pad + dx + w]

    # The spread: two passes in float64 (torch.std accumulates in float64 too; the same values, tested), without
    # stacking the 9*len(dil) shifted copies; the padded image is converted once so no pass mixes dtypes.
    wide = padded.double()
    values = [wide[..., pad + dy:pad + dy + h, pad + dx:pad + dx + w]
              for d in dilations for dy in (-d, 0, d) for dx in (-d, 0, d)]
    mean = torch.zeros_like(values[0])
    for v in values:
        mean.add_(v)
    mean.div_(len(values))
    spread, dev = torch.zeros_like(mean), torch.empty_like(mean)
    for v in values:
        torch.sub(v, mean, out=dev)
        spread.addcmul_(dev, dev)
    std = spread.div_(len(values) - 1).sqrt_().to(image.dtype)[:, :, None]  # (B, 3, 1, H, W), unbiased
    offsets = [o for d in dilations for o in _neighbour_offsets(d)]
    diff = image.new_empty((image.shape[0], image.shape[1], len(offsets), h, w))  # (B, 3, K, H, W)
    for k, (dy, dx) in enumerate(offsets):
        torch.sub(image, shifted(dy, dx), out=diff[:, :, k])
    logits = diff.abs_().neg_().div_(1e-8 + 0.1 * std).mean(dim=1)  # in place; mean over colours -> (B, K, H, W)
    return logits.softmax(dim=1)


def banded_affinity(image: torch.Tensor, dilations: Sequence[int], tile: int = 256) -> torch.Tensor:
    """:func:`pamr_affinity` computed on ``tile`` x ``tile`` pieces (same values, a fraction of the temporaries).

    A pixel's weights read the guide image within ``max(dilations)`` pixels, so each piece is computed from itself
    plus that margin; at the image border the piece ends where the image does, as the replicate padding expects.
    """
    (height, width), reach = image.shape[-2:], max(dilations)
    out = image.new_empty((image.shape[0], 8 * len(dilations), height, width))
    for r0 in range(0, height, tile):
        r1, a, b = min(height, r0 + tile), max(0, r0 - reach), min(height, r0 + tile + reach)
        for c0 in range(0, width, tile):
            c1, c, d = min(width, c0 + tile), max(0, c0 - reach), min(width, c0 + tile + reach)
            out[..., r0:r1, c0:c1] = pamr_affinity(image[..., a:b, c:d], dilations)[..., r0 - a:r1 - a, c0 - c:c1 - c]
    return out


def pamr(image: torch.Tensor, masks: torch.Tensor, steps: int = 10, dilations: Sequence[int] = (8, 16),
         chunk: Optional[int] = None, affinity_tile: Optional[int] = None) -> torch.Tensor:
    """Pixel-Adaptive Mask Refinement (Araslanov & Roth, CVPR 2020), as used by SCLIP/NACLIP/SC-CLIP.

    Each step replaces a pixel's scores by the affinity-weighted sum of its 8 neighbours at every dilation (the
    centre is not included), with replicate padding. Classes are independent, so ``chunk`` bounds memory by
    refining that many channels at a time with identical results.

    Args:
        image: guidance image (B, 3, H, W).
        masks: scores to refine (B, Q, h, w); resized to (H, W) first (bilinear, align_corners=True).
        affinity_tile: compute the neighbour weights on tiles of this size (bounds memory; same result).
    """
    image = image.float()
    masks = F.interpolate(masks.float(), size=image.shape[-2:], mode='bilinear', align_corners=True)
    weights = pamr_affinity(image, dilations) if affinity_tile is None else \
        banded_affinity(image, dilations, affinity_tile)  # (B, K, H, W)
    offsets = [o for d in dilations for o in _neighbour_offsets(d)]
    # Every step reads the neighbours from a map padded (replicate) by the largest dilation, which gives the same
    # clamped neighbours as padding by each dilation, and writes its result straight into the interior of a second
    # padded map whose border is then filled: two buffers for all steps, no temporary per step or neighbour.
    pad, (h, w) = max(dilations), masks.shape[-2:]
    chunk = chunk or masks.shape[1]
    out = []
    for part in masks.split(chunk, dim=1):
        src = F.pad(part, (pad, pad, pad, pad), mode='replicate')
        dst = torch.empty_like(src)
        for _ in range(steps):
            refined = dst[..., pad:pad + h, pad:pad + w]
            for k, (dy, dx) in enumerate(offsets):
                neighbour = src[..., pad + dy:pad + dy + h, pad + dx:pad + dx + w]
                if k == 0:
                    torch.mul(weights[:, :1], neighbour, out=refined)  # = 0 + w * x, the first term of the sum
                else:
                    refined.addcmul_(weights[:, k:k + 1], neighbour)
            _replicate_border(dst, pad)
            src, dst = dst, src
        out.append(src[..., pad:pad + h, pad:pad + w])
    return torch.cat(out, dim=1)


@MODELS.register_module()
class PAMR(PostProcessStep):
    """PAMR on the logits at the original size, guided by the preprocessed input image resized to that size.

    Args:
        steps: refinement iterations (SCLIP/NACLIP/SC-CLIP: 10).
        dilations: neighbourhood dilations (8, 16).
        chunk: refine this many names at a time (bounds memory; same result).
    """

    stage = 'logits'
    per_channel = True
    # bytes per pixel beyond the logits: in a band, the neighbour weights (16 floats; the affinity is computed on
    # tiles); over a whole map, also the affinity's temporaries (shifted copies and differences, about 1 KiB)
    band_bytes_per_pixel = 4 * 16
    full_bytes_per_pixel = 4 * 16 + 1024

    def __init__(self, steps: int = 10, dilations: Sequence[int] = (8, 16), chunk: Optional[int] = None):
        super().__init__()
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f'PAMR steps must be an int >= 1 (leave the step out to turn PAMR off), got {steps!r}')
        if not dilations or any(not isinstance(d, int) or d < 1 for d in dilations):
            raise ValueError(f'PAMR dilations must be ints >= 1, got {dilations!r}')
        if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
            raise ValueError(f'PAMR chunk must be None or an int >= 1, got {chunk!r}')
        self.steps, self.dilations, self.chunk = steps, tuple(dilations), chunk

    @property
    def halo(self) -> int:
        """Rows of context a band needs on each side: every step reads at most ``max(dilations)`` rows away."""
        return self.steps * max(self.dilations)

    def forward(self, logits: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        if ctx.rows is None:
            guide = F.interpolate(ctx.image.float(), size=ctx.ori_shape, mode='bilinear', align_corners=False)
            return pamr(guide, logits.float(), self.steps, self.dilations, self.chunk)
        # a band of rows (the large-image path): its guide rows only, and the weights tile by tile (about 1 KiB of
        # temporaries per pixel of a tile)
        guide = resize_rows(ctx.image.float(), ctx.ori_shape, ctx.rows)
        return pamr(guide, logits.float(), self.steps, self.dilations, self.chunk, affinity_tile=256)

    def extra_repr(self) -> str:
        return f'steps={self.steps}, dilations={self.dilations}, chunk={self.chunk}'
