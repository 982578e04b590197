"""Trident's inference (Shi et al., ICCV 2025): splice the windows' features, aggregate them over the whole image.

1. The input is resized (bilinear) so that both sides are multiples of CLIP's patch and at least one crop
   (:func:`trident_resize`); it is cut into ``crop_size`` windows every ``stride`` pixels (mmseg's placement).
2. All windows go through CLIP in one batch with the configured last-block attention (Trident: ProxyCLIP's proxy
   attention on DINO features, its mean taken over the whole batch of windows); the tokens are kept before CLIP's
   ``ln_post`` and projection.
3. :func:`splice_windows` places each window's token map at its position on the whole-image grid and averages where
   windows overlap (the stitched inference's placement and averaging, on tokens instead of logits).
4. The spliced map is resized (bilinear) to SAM's grid of the image and mixed by SAM's affinity
   (:class:`~sclip_toolkit.models.vfm.sam_affinity.SAMAffinity`); then ``ln_post`` and the projection.
5. Cosine logits on SAM's grid are resized once to the original size (as :class:`WholeInference` on its grid).

SAM sees the original image file (re-read from disk, as the reference does; ``sam_input='input'`` uses the network
input instead), resized with OpenCV so that both sides are multiples of CLIP's patch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from ..regions import original_rgb
from ..stages import stage
from ..vfm import CLIP_MEAN, CLIP_STD
from .base import Box, CropFeatures, pair
from .slide import slide_windows
from .whole import WholeInference


@dataclass
class SplicedFeatures(CropFeatures):
    """:class:`CropFeatures` of one whole-image map, with what SAM gave (the refinement step reads it).

    Attributes:
        sam: the image's :class:`~sclip_toolkit.models.vfm.sam_affinity.SAMEncoding`.
        seconds: time per stage (windows, splice, sam_encoder, aggregation).
    """
    sam: Any = None
    seconds: Optional[dict] = None


def round_up(size: int, multiple: int) -> int:
    return -(-size // multiple) * multiple


def trident_resize(image: torch.Tensor, multiple: int, crop: int) -> torch.Tensor:
    """Resize (bilinear) so that both sides are multiples of ``multiple`` and at least ``crop``, as Trident does:
    the longer side goes up to a multiple, the other follows its scale (truncated) and is rounded up too. An image
    already on the grid is left as it is, even if smaller than the crop."""
    h, w = image.shape[-2:]
    if h % multiple == 0 and w % multiple == 0:
        return image
    longer = max(h, w)
    target = round_up(longer, multiple)
    new_h, new_w = round_up(int(h * target / longer), multiple), round_up(int(w * target / longer), multiple)
    new_h, new_w = max(new_h, crop), max(new_w, crop)
    return F.interpolate(image, (new_h, new_w), mode='bilinear', align_corners=False)


def splice_windows(tokens: torch.Tensor, boxes: Sequence[Box], size: Tuple[int, int]) -> torch.Tensor:
    """Average window token maps on one whole-image grid.

    Args:
        tokens: (n, D, h, w) token maps of the n windows.
        boxes: each window's cells (y1, y2, x1, x2) on the whole grid; y2 - y1 = h, x2 - x1 = w.
        size: the whole grid (H, W); every cell must be covered.

    Returns:
        (1, D, H, W): per cell, the mean of the windows covering it.
    """
    total = tokens.new_zeros((1, tokens.shape[1], *size))
    count = tokens.new_zeros((1, 1, *size))
    for map_, (y1, y2, x1, x2) in zip(tokens, boxes):
        total[0, :, y1:y2, x1:x2] += map_
        count[:, :, y1:y2, x1:x2] += 1
    if not bool((count > 0).all()):
        raise ValueError('spliced windows leave cells of the whole-image grid uncovered')
    return total / count


@MODELS.register_module()
class SplicedInference(WholeInference):
    """Trident's splice-and-aggregate inference (see the module docstring).

    Args:
        crop_size / stride: window size and step in input pixels (multiples of CLIP's patch).
        affinity: config of the whole-image affinity source (``SAMAffinity``).
        sam_input: 'file' (the sample's image file, re-read from disk as the reference does; arrays without a file
            are rebuilt from the input) or 'input' (the network input, un-normalised).
        batch_size: windows per CLIP pass; 0 = all at once (the reference: the proxy attention's mean is then over
            every window, which a smaller batch changes).
    """

    wants_meta = True

    def __init__(self, crop_size: Union[int, Sequence[int]] = 336, stride: Union[int, Sequence[int]] = 224,
                 affinity: Optional[dict] = None, sam_input: str = 'file', batch_size: int = 0):
        super().__init__(resize='direct', batch_size=max(1, batch_size), pad_multiple=None)
        self.crop_size, self.stride = pair(crop_size), pair(stride)
        if not all(0 < s <= c for s, c in zip(self.stride, self.crop_size)):
            raise ValueError(f'SplicedInference: need 0 < stride <= crop_size, got crop_size={crop_size}, '
                             f'stride={stride}')
        if self.crop_size[0] != self.crop_size[1]:
            raise ValueError(f'SplicedInference: square crops only (Trident resizes to at least one crop), got '
                             f'{crop_size}')
        if sam_input not in ('file', 'input'):
            raise ValueError(f"SplicedInference sam_input must be 'file' or 'input', got {sam_input!r}")
        self.sam_input, self.all_windows = sam_input, batch_size == 0
        self.affinity = MODELS.build(affinity or dict(type='SAMAffinity'))

    def _sam_rgb(self, image: torch.Tensor, meta: Optional[dict], multiple: int) -> np.ndarray:
        """The RGB image SAM encodes: the original (file, or rebuilt), resized with OpenCV to multiples of CLIP's
        patch (both sides rounded up)."""
        if self.sam_input == 'file' and meta and meta.get('img_path'):
            bgr = cv2.imread(str(meta['img_path']), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError(f'cannot read {meta["img_path"]} for SAM')
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        elif self.sam_input == 'file':
            rgb = original_rgb(image, dict(meta or {}, img_path=None))
        else:
            mean = torch.tensor(CLIP_MEAN, device=image.device).view(1, 3, 1, 1) * 255
            std = torch.tensor(CLIP_STD, device=image.device).view(1, 3, 1, 1) * 255
            pixels = (image.float() * std + mean)[0].permute(1, 2, 0).round().clamp(0, 255)
            rgb = pixels.to(torch.uint8).cpu().numpy()
        h, w = rgb.shape[:2]
        size = (round_up(w, multiple), round_up(h, multiple))
        return rgb if size == (w, h) else cv2.resize(rgb, size)

    def _window_tokens(self, clip, image: torch.Tensor, boxes: List[Box], text: Any, regions: Any):
        crops = torch.cat([image[:, :, y1:y2, x1:x2] for y1, y2, x1, x2 in boxes])
        step = len(boxes) if self.all_windows else self.batch_size
        parts, grid = [], None
        for start in range(0, len(boxes), step):
            part, grid = clip.encode_dense(crops[start:start + step], text=text, regions=regions, project=False)
            parts.append(part)
        return torch.cat(parts), grid

    def encode(self, clip, image: torch.Tensor, text: Any = None, regions: Any = None,
               meta: Optional[dict] = None) -> SplicedFeatures:
        """The whole-image features of one image (1, 3, H, W) on SAM's grid."""
        seconds = {}
        t0 = time.perf_counter()
        patch = clip.patch_size
        resized = trident_resize(image, patch, self.crop_size[0])
        height, width = resized.shape[-2:]
        boxes = slide_windows(height, width, self.crop_size, self.stride)
        tokens, (gh, gw) = self._window_tokens(clip, resized, boxes, text, None)
        t1 = time.perf_counter()
        seconds['windows'] = t1 - t0
        ch, cw = self.crop_size[0] // patch, self.crop_size[1] // patch  # CLIP's grid of a window
        maps = tokens.transpose(1, 2).reshape(len(boxes), -1, gh, gw)
        if gw % cw:  # a VFM grid that is no multiple of CLIP's (ViT-L/14 with DINO /16): onto CLIP's grid
            ratio = int(round(gh / ch))
            maps = F.interpolate(maps, size=(ch * ratio, cw * ratio), mode='bilinear', align_corners=False)
        else:
            ratio = gw // cw
        cells = [(y1 // patch * ratio, y2 // patch * ratio, x1 // patch * ratio, x2 // patch * ratio)
                 for y1, y2, x1, x2 in boxes]
        with stage('inference.splice', self):
            spliced = splice_windows(maps, cells, (height // patch * ratio, width // patch * ratio))
        t2 = time.perf_counter()
        seconds['splice'] = t2 - t1
        sam = self.affinity(self._sam_rgb(image, meta, patch))
        t3 = time.perf_counter()
        seconds['sam_encoder'] = t3 - t2
        with stage('inference.aggregate', self):
            feats, grid = self.aggregate(spliced, sam)
            visual = clip.visual
            out = clip.output_dtype
            feats = visual.ln_post(feats.to(clip.dtype)).to(out) @ visual.proj.to(out)
        seconds['aggregation'] = time.perf_counter() - t3
        feats = feats / feats.norm(dim=-1, keepdim=True)
        shape = tuple(image.shape[-2:])
        return SplicedFeatures([(0, shape[0], 0, shape[1])], feats, grid, shape, (0, 0), shape, sam=sam,
                               seconds=seconds)

    @staticmethod
    def aggregate(spliced: torch.Tensor, sam) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Mix the spliced map (1, D, H, W) with SAM's affinity: (1, M, D) on SAM's grid (h, w) (halves side by
        side: each half of the map goes to its own part's grid)."""
        if len(sam.weights) == 1:
            (h, w), weights = sam.grids[0], sam.weights[0]
            x = F.interpolate(spliced, size=(h, w), mode='bilinear', align_corners=False)
            return (weights.to(x.dtype) @ x.flatten(2)[0].t())[None], (h, w)
        half = spliced.shape[-1] // 2
        outs = []
        for part, (h, w), weights in zip((spliced[..., :half], spliced[..., half:]), sam.grids, sam.weights):
            x = F.interpolate(part, size=(h, w), mode='bilinear', align_corners=False)
            outs.append((weights.to(x.dtype) @ x.flatten(2)[0].t()).view(h, w, -1))
        if outs[0].shape[0] != outs[1].shape[0]:
            raise ValueError(f'the two halves have SAM grids of {outs[0].shape[0]} and {outs[1].shape[0]} rows')
        out = torch.cat(outs, dim=1)
        return out.reshape(1, -1, out.shape[-1]), (out.shape[0], out.shape[1])

    def extra_repr(self) -> str:
        return f'crop_size={self.crop_size}, stride={self.stride}, sam_input={self.sam_input}'
