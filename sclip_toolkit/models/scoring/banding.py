"""Row bands of full-resolution maps: what the large-image label path needs to never hold a whole (Q, H0, W0) map.

``resize_rows`` gives rows ``[r0, r1)`` of ``F.interpolate(x, size, mode='bilinear', align_corners=False)`` from
the few source rows they need. Bilinear interpolation is separable: PyTorch's kernel first blends two source
columns per output column (the width pass, reproduced here by ``F.interpolate`` itself with the height unchanged,
which is an exact copy in that dimension), then blends two width-passed rows per output row. The row blend is
reproduced as PyTorch's CPU kernel computes it in its vectorised loop: the source coordinate
``scale * (r + 0.5) - 0.5`` and the blend ``a * w0 + b * w1`` are fused multiply-adds (emulated in float64, exact
for these operand sizes). The kernel's scalar remainder loop contracts the blend the other way round, so a few
values can differ from ``F.interpolate`` by one unit in the last place; labels do not change in practice (tests
compare them with the dense path's).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional, Tuple

import torch
import torch.nn.functional as F

from ..stages import stage

if TYPE_CHECKING:
    from ..inference import CropFeatures
    from .base import ScoringParts


def source_rows(in_size: int, out_size: int, rows: Tuple[int, int]
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per output row in ``rows``: the two source rows (i0, i1) and their weights (w0, w1), float32.

    Same rule as PyTorch's bilinear kernel with ``align_corners=False``: scale = in / out (float32), source
    coordinate max(scale * (r + 0.5) - 0.5, 0), i1 = i0 + 1 except on the last source row.
    """
    r0, r1 = rows
    if in_size == out_size:  # the kernel copies: weight 1 on the row itself
        idx = torch.arange(r0, r1)
        return idx, idx, torch.ones(r1 - r0), torch.zeros(r1 - r0)
    scale = torch.tensor(in_size, dtype=torch.float32) / torch.tensor(out_size, dtype=torch.float32)
    half = torch.arange(r0, r1, dtype=torch.float32) + 0.5
    src = (scale.double() * half.double() - 0.5).float().clamp_(min=0)  # one rounding, as a fused multiply-add
    i0 = src.floor().long().clamp_(max=in_size - 1)
    w1 = (src - i0.float()).clamp_(0, 1)
    i1 = torch.where(i0 < in_size - 1, i0 + 1, i0)
    return i0, i1, 1 - w1, w1


def needed_rows(in_size: int, out_size: int, rows: Tuple[int, int]) -> Tuple[int, int]:
    """The source rows [s0, s1) that output rows ``rows`` read."""
    i0, i1, _, _ = source_rows(in_size, out_size, rows)
    return int(i0.min()), int(i1.max()) + 1


def resize_rows(x: torch.Tensor, size: Tuple[int, int], rows: Tuple[int, int], offset: int = 0,
                source_height: Optional[int] = None) -> torch.Tensor:
    """Rows ``[r0, r1)`` of ``F.interpolate(x, size, mode='bilinear', align_corners=False)``.

    Args:
        x: (B, C, h, w) float map, or rows ``[offset, offset + h)`` of one ``source_height`` rows high (which must
            include the rows that ``rows`` need, :func:`needed_rows`).
        size: (H, W) of the full output.
    Returns:
        (B, C, r1 - r0, W), computed from the source rows those rows need only.
    """
    (height, width), w = size, x.shape[-1]
    h = x.shape[-2] if source_height is None else source_height
    rows = (max(0, rows[0]), min(height, rows[1]))
    s0, s1 = needed_rows(h, height, rows)
    if s0 < offset or s1 > offset + x.shape[-2]:
        raise ValueError(f'resize_rows: output rows {rows} need source rows [{s0}, {s1}), but the map holds '
                         f'[{offset}, {offset + x.shape[-2]})')
    x = x[..., s0 - offset:s1 - offset, :]
    # width pass, exactly as the kernel's inner blend (the height is unchanged, so the kernel copies rows)
    part = F.interpolate(x, size=(s1 - s0, width), mode='bilinear', align_corners=False) if w != width else x
    if h == height:
        return part.clone() if w == width else part
    i0, i1, w0, w1 = source_rows(h, height, rows)
    dev = x.device
    a, b = part[..., (i0 - s0).to(dev), :], part[..., (i1 - s0).to(dev), :]
    w0, w1 = w0.to(dev).view(-1, 1), w1.to(dev).view(-1, 1)
    # a * w0 + b * w1 with the first product fused: float64 holds a * w0 exactly, then one rounding to float32
    b = (b * w1).double()
    return b.addcmul_(a.double(), w0.double()).to(x.dtype)


def row_bands(height: int, band: int) -> Iterator[Tuple[int, int]]:
    """Consecutive (r0, r1) bands of at most ``band`` rows covering ``height`` rows."""
    band = max(1, int(band))
    for r0 in range(0, height, band):
        yield r0, min(height, r0 + band)


class SourceBlocks:
    """The inference's source map (1, Q, h, w), decoded a block of rows at a time for the bands that read them.

    A block holds at most about ``max_score_bytes`` (its sum and the average made from it); bands move down the
    image, so a band whose rows are not in the current block starts the next one. Bands re-read from the top
    (a scores-stage step that counts first, then labels) decode the blocks again.
    """

    def __init__(self, parts: 'ScoringParts', max_bytes: int, crops: 'CropFeatures', names: torch.Tensor,
                 out_height: int):
        self.parts, self.max_bytes, self.crops, self.names, self.out_height = parts, max_bytes, crops, names, out_height
        self.height, width = parts.inference.source_size(crops)
        self.block_rows = max(1, max_bytes // (2 * 4 * names.shape[0] * width))
        self.block, self.start = None, 0

    def covering(self, r0: int, r1: int) -> Tuple[torch.Tensor, int]:
        """A block holding the source rows that output rows ``[r0, r1)`` read, and its first row."""
        s0, s1 = needed_rows(self.height, self.out_height, (r0, r1))
        if self.block is None or s0 < self.start or s1 > self.start + self.block.shape[-2]:
            self.block = None  # freed before the next is decoded
            stop = min(self.height, max(s1, s0 + self.block_rows))
            with stage('inference.source', self.parts.inference):
                self.block = self.parts.inference.source_rows(self.crops, self.names, (s0, stop), self.parts.head,
                                                              max_bytes=self.max_bytes)
            self.start = s0
        return self.block, self.start
