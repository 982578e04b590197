"""Stitched window inference: the windows' tokens placed on one whole-image grid, the last blocks run globally.

Sliding windows are encoded independently, so no patch sees the rest of the image. In the stitched mode (OV-Stitcher,
CVPR 2026 Findings; github.com/atw617/OV-Stitcher) every block but the chosen last ones still runs per
window, then the windows' tokens are placed on one grid for the whole image (:class:`Placement`) and the final
attention (and the VFM's last block, and CorrCLIP's spatial branch) attends over the whole image at once.

Placement (the reference's ``stitch_features_from_batch``): a window's patch grid is put where its pixel offset falls
on the whole-image grid of the same patch size, cell ``(y1 // p + r, x1 // p + c)`` for its token ``(r, c)``; cells
covered by several windows get the mean of their tokens, summed in window order. The grid's cell (0, 0) starts at
pixel (-top, -left) of the windows' padding, so a window padded beyond the image keeps all its tokens; without
padding the grid is the image's ``(H // p, W // p)``, as in the reference.

Public parts (reused by other global-context methods): :class:`Placement`, :class:`WindowSet`,
:class:`StitchContext` and :func:`stitch_last_block`, the generic stitched forward of a final-attention variant.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from ...exceptions import ConfigError
from ..attention import AttnContext
from ..stages import stage
from .base import Box, CropFeatures, pair
from .slide import slide_windows
from .whole import WholeInference


class Placement:
    """Where each window's (h, w) patch grid falls on the whole-image grid of one encoder (patch size ``patch``).

    Args:
        boxes: windows (y1, y2, x1, x2) in the image, in the order their tokens come.
        grid: the (h, w) patch grid of every window.
        patch: the encoder's patch size in pixels.

    Attributes:
        grid: (Hg, Wg) the whole-image grid; offsets: (row, col) of each window's first cell; count: (Hg, Wg)
            how many windows cover each cell.
    """

    def __init__(self, boxes: Sequence[Box], grid: Tuple[int, int], patch: int):
        self.window_grid, self.patch = tuple(grid), int(patch)
        self.offsets = [(y1 // self.patch, x1 // self.patch) for y1, _, x1, _ in boxes]
        h, w = self.window_grid
        self.grid = (max(r for r, _ in self.offsets) + h, max(c for _, c in self.offsets) + w)
        count = torch.zeros(self.grid)
        for r, c in self.offsets:
            count[r:r + h, c:c + w] += 1
        if (count == 0).any():
            raise ValueError(f'the windows leave cells of the {self.grid[0]}x{self.grid[1]} stitched grid uncovered '
                             f'(window grid {h}x{w}, patch {self.patch}): choose a stride <= the crop size')
        self.count = count

    def canvas(self, channels: int, like: torch.Tensor) -> torch.Tensor:
        """An empty sum (C, Hg, Wg) in ``like``'s dtype and device."""
        return like.new_zeros((channels, *self.grid))

    def add(self, canvas: torch.Tensor, index: int, tokens: torch.Tensor) -> None:
        """Add window ``index``'s tokens (h*w, C) (row-major) to ``canvas`` (C, Hg, Wg) in place."""
        (r, c), (h, w) = self.offsets[index], self.window_grid
        canvas[:, r:r + h, c:c + w] += tokens.t().reshape(-1, h, w)

    def mean(self, canvas: torch.Tensor) -> torch.Tensor:
        """The stitched tokens (Hg*Wg, C): ``canvas`` divided by the cover counts."""
        out = canvas / self.count.to(canvas.device, canvas.dtype)
        return out.flatten(1).t()

    def stitch(self, tokens: torch.Tensor, indices: Optional[Sequence[int]] = None) -> torch.Tensor:
        """Stitched tokens (Hg*Wg, C) of all windows' tokens (n_windows, h*w, C)."""
        canvas = self.canvas(tokens.shape[-1], tokens)
        for k, index in enumerate(indices if indices is not None else range(len(tokens))):
            self.add(canvas, index, tokens[k])
        return self.mean(canvas)

    def cells(self, index: int) -> Tuple[slice, slice]:
        """The (rows, cols) of the whole-image grid that window ``index`` covers."""
        (r, c), (h, w) = self.offsets[index], self.window_grid
        return slice(r, r + h), slice(c, c + w)


class Accumulator:
    """Running stitched sums of named token sets, filled window batch by window batch (memory: one grid each)."""

    def __init__(self, placement: Placement):
        self.placement, self.sums = placement, {}

    def add(self, name: str, indices: Sequence[int], tokens: torch.Tensor) -> None:
        """Add the tokens (n, h*w, C) of windows ``indices`` to the sum ``name``."""
        if name not in self.sums:
            self.sums[name] = self.placement.canvas(tokens.shape[-1], tokens)
        for k, index in enumerate(indices):
            self.placement.add(self.sums[name], index, tokens[k])

    def mean(self, name: str) -> torch.Tensor:
        """The stitched tokens (1, Hg*Wg, C) of ``name``."""
        return self.placement.mean(self.sums.pop(name))[None]


@dataclass
class WindowSet:
    """The windows of one image and how they are padded; yields them in batches of crops.

    Attributes:
        image: the input (1, 3, H, W); boxes: windows (y1, y2, x1, x2); pad: (top, bottom, left, right) zero
        padding of every window; batch_size: crops per batch.
    """
    image: torch.Tensor
    boxes: List[Box]
    pad: Tuple[int, int, int, int]
    batch_size: int

    @property
    def image_shape(self) -> Tuple[int, int]:
        return tuple(self.image.shape[-2:])

    @property
    def padded_shape(self) -> Tuple[int, int]:
        """(h, w) of every padded window."""
        y1, y2, x1, x2 = self.boxes[0]
        top, bottom, left, right = self.pad
        return y2 - y1 + top + bottom, x2 - x1 + left + right

    @property
    def extent(self) -> Tuple[int, int]:
        """The pixel size the stitched grids stand for: the image plus the windows' padding."""
        top, bottom, left, right = self.pad
        return self.image_shape[0] + top + bottom, self.image_shape[1] + left + right

    def batches(self) -> Iterator[Tuple[List[int], torch.Tensor]]:
        """(window indices, padded crops (n, 3, h, w)) ``batch_size`` windows at a time."""
        top, bottom, left, right = self.pad
        for start in range(0, len(self.boxes), self.batch_size):
            index = list(range(start, min(start + self.batch_size, len(self.boxes))))
            crops = torch.cat([self.image[:, :, y1:y2, x1:x2] for y1, y2, x1, x2 in (self.boxes[i] for i in index)])
            yield index, F.pad(crops, (left, right, top, bottom)) if any(self.pad) else crops

    def placement(self, grid: Tuple[int, int], patch: int) -> Placement:
        return Placement(self.boxes, grid, patch)


@dataclass
class StitchContext:
    """What a stitched forward gets besides the encoder and the windows.

    Attributes:
        windows: the image's :class:`WindowSet`.
        vfm_feats: the VFM's whole-image features (1, C, I, J) (its last block run on the stitched tokens).
        vfm_placement: where the windows' VFM patch grids went (None without a VFM).
        regions: the region map (:class:`~sclip_toolkit.models.regions.RegionMap`) of the image, or None.
        text: the class embeddings, when the variant asks for them.
    """
    windows: WindowSet
    vfm_feats: Optional[torch.Tensor] = None
    vfm_placement: Optional[Placement] = None
    regions: Any = None
    text: Any = None
    extras: Dict[str, torch.Tensor] = field(default_factory=dict)


def stitch_last_block(attn, clip, sctx: StitchContext) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """The generic stitched forward of a final-attention variant: (1, N, D) tokens on the whole-image grid.

    Every block but the last runs per window; the last block's input and the recorded outputs of earlier blocks
    are stitched (patches by :class:`Placement`, CLS as the mean over windows), and the variant's own ``forward``
    runs once on them, with the whole-image grid, the stitched VFM features and the region map at the input size.
    With one window and no padding this is the per-window forward exactly.
    """
    windows, acc, place, cls = sctx.windows, None, None, {}
    blocks = clip.visual.transformer.resblocks
    for index, crops in windows.batches():
        x, ctx = clip.encode_to_last(crops, attn, sctx.text, vfm=False)
        if acc is None:
            place = windows.placement(ctx.grid, clip.patch_size)
            acc = Accumulator(place)
        for name, tokens in [('x', x), *((i, t) for i, t in ctx.hidden.items())]:
            acc.add(name, index, tokens[:, 1:])
            cls[name] = cls.get(name, 0) + tokens[:, :1].sum(dim=0, keepdim=True)
    n = len(windows.boxes)
    joined = {name: torch.cat([cls[name] / n, acc.mean(name)], dim=1) for name in list(acc.sums)}
    regions = sctx.regions
    ids = None
    if regions is not None and hasattr(regions, 'window'):
        h, w = windows.image_shape
        ids = regions.window((h, w), (0, h, 0, w), windows.pad)[None]
    ctx = AttnContext(grid=place.grid, blocks=blocks, visual=clip.visual, image=windows.image,
                      hidden={i: t for i, t in joined.items() if i != 'x'}, vfm_feats=sctx.vfm_feats,
                      text=sctx.text, regions=ids if ids is not None else regions)
    tokens, grid = attn(blocks[-1], joined['x'], ctx)
    sctx.extras.update(ctx.extras)
    return tokens, grid


def stitch_vfm(vfm, windows: WindowSet) -> Tuple[torch.Tensor, Placement]:
    """A VFM's whole-image features (1, C, I, J): its blocks per window, its last block on the stitched tokens
    (``VFMFeatures.window_state`` / ``finish_state``), and where the windows' grids went."""
    acc, place, prefix = None, None, {}
    for index, crops in windows.batches():
        state, grid = vfm.window_state(crops)
        if acc is None:
            place = windows.placement(grid, vfm.patch_size)
            acc = Accumulator(place)
        for name, tokens in state.items():
            if name.startswith('prefix'):  # CLS (and registers): the mean over windows
                prefix[name] = prefix.get(name, 0) + tokens.sum(dim=0, keepdim=True)
            else:
                acc.add(name, index, tokens)
    n = len(windows.boxes)
    state = {name: acc.mean(name) for name in list(acc.sums)}
    state.update({name: value / n for name, value in prefix.items()})
    return vfm.finish_state(state, place.grid), place


@MODELS.register_module()
class StitchedInference(WholeInference):
    """Sliding windows whose last block(s) attend over the whole image (OV-Stitcher's inference).

    Windows are cut and padded as :class:`~sclip_toolkit.models.inference.SlideInference` does; the encoder runs
    every block but the last per window (``batch_size`` windows at a time); the VFM's last block, then the final
    attention (its ``forward_stitched`` when it has one, else :func:`stitch_last_block`) run on the stitched
    tokens. The logits on the whole-image grid are resized to the input ('via_input', OV-Stitcher) or straight to
    the original size ('direct').

    Args:
        crop_size / stride: window size and step, an int or (h, w); 0 < stride <= crop_size.
        resize / batch_size / pad_multiple: see :class:`~sclip_toolkit.models.inference.WholeInference`.
    """

    def __init__(self, crop_size: Union[int, Sequence[int]] = 336, stride: Union[int, Sequence[int]] = 112,
                 resize: str = 'via_input', batch_size: int = 16, pad_multiple: Union[int, str, None] = None):
        super().__init__(resize, batch_size, pad_multiple)
        self.crop_size, self.stride = pair(crop_size), pair(stride)
        if not all(0 < s <= c for s, c in zip(self.stride, self.crop_size)):
            raise ValueError(f'StitchedInference: need 0 < stride <= crop_size so windows cover the image, got '
                             f'crop_size={crop_size}, stride={stride}')

    def windows(self, height: int, width: int) -> List[Box]:
        return slide_windows(height, width, self.crop_size, self.stride)

    def window_set(self, clip, image: torch.Tensor) -> WindowSet:
        """The windows of ``image`` (1, 3, H, W) with their padding, as :meth:`WindowInference.encode` pads them."""
        boxes = self.windows(*image.shape[-2:])
        pad = self.window_padding(clip, boxes[0][1] - boxes[0][0], boxes[0][3] - boxes[0][2])
        return WindowSet(image, boxes, pad, self.batch_size)

    def encode(self, clip, image: torch.Tensor, text: Any = None, regions: Any = None) -> CropFeatures:
        """Whole-image features (1, N, E) on the stitched grid of the final attention's output."""
        attn = clip.final_attn
        reason = attn.unstitchable_reason(clip.num_blocks)
        if reason:
            raise ConfigError(f'{type(attn).__name__} cannot run stitched ({reason}); use '
                              f"model.inference=dict(type='SlideInference', ...) (docs/methods.md#stitching)")
        clip.apply_precision()
        windows = self.window_set(clip, image)
        sctx = StitchContext(windows, regions=regions, text=text)
        if clip.vfm is not None:
            with stage('vfm.stitched', clip.vfm):
                sctx.vfm_feats, sctx.vfm_placement = stitch_vfm(clip.vfm, windows)
        forward = getattr(attn, 'forward_stitched', None)
        tokens, grid = forward(clip, sctx) if forward is not None else stitch_last_block(attn, clip, sctx)
        feats = clip.project(tokens, attn)
        feats = feats / feats.norm(dim=-1, keepdim=True)
        top, _, left, _ = windows.pad
        return CropFeatures([(0, image.shape[-2], 0, image.shape[-1])], feats, grid, windows.extent, (top, left),
                            windows.image_shape, dict(sctx.extras))

    def extra_repr(self) -> str:
        return f'crop_size={self.crop_size}, stride={self.stride}, {super().extra_repr()}'
