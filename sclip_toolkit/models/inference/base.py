"""Window inference parts: an image -> dense CLIP features of its windows -> cosine logits at the original size.

``SlideInference`` runs overlapping crops (the references' slide mode) and averages their logits; ``WholeInference``
runs the image in one pass. Both split the work in two so that names can be decoded in chunks: :meth:`encode`
computes every window's features once, :meth:`decode` turns them into logits for any (subset of) names, through the
segmentor's classification head (``models/heads/``; default: cosine similarity).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..scoring.banding import resize_rows
from ..stages import stage

Box = Tuple[int, int, int, int]


@dataclass
class CropFeatures:
    """Unit-norm dense features of an image's windows: everything needed to decode logits for any names.

    Attributes:
        boxes: windows (y1, y2, x1, x2) in the input image.
        feats: (n_windows, N, E) features on a ``grid`` (h, w).
        padded_shape: the (padded) window size the features were computed on; pad_offset: (top, left) padding.
        image_shape: the input image size (H, W).
        extras: per-window tensors (n_windows, ...) for the classification head: what the attention variant handed
            on (``AttnContext.extras``) and what the head's ``prepare`` added.
    """
    boxes: List[Box]
    feats: torch.Tensor
    grid: Tuple[int, int]
    padded_shape: Tuple[int, int]
    pad_offset: Tuple[int, int]
    image_shape: Tuple[int, int]
    extras: Dict[str, torch.Tensor] = field(default_factory=dict)

    def extras_of(self, start: int, stop: int) -> Dict[str, torch.Tensor]:
        """The extras of windows ``start:stop``."""
        return {key: value[start:stop] for key, value in self.extras.items()}


def pair(value: Union[int, Sequence[int]]) -> Tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value), int(value))


def pad_amounts(size: int, multiple: int) -> Tuple[int, int]:
    """(before, after) zero padding that makes ``size`` a multiple of ``multiple`` (ClearCLIP's split)."""
    total = (multiple - size % multiple) % multiple
    return total // 2, total - total // 2


def grid_map(feats: torch.Tensor, text: torch.Tensor, grid: Tuple[int, int], head: Optional[nn.Module] = None,
             extras: Optional[Dict[str, torch.Tensor]] = None) -> torch.Tensor:
    """Logits (B, Q, h, w) on the patch grid: features (B, h*w, E) x names (Q, E) (cosine, or the classification
    ``head`` given the windows' ``extras``)."""
    with stage('inference.grid'):
        logits = feats @ text.t().to(feats.dtype) if head is None else head(feats, text, extras or {})  # (B, N, Q)
        return logits.permute(0, 2, 1).reshape(feats.shape[0], -1, *grid)


def grid_logits(feats: torch.Tensor, text: torch.Tensor, grid: Tuple[int, int], size, head: Optional[nn.Module] = None,
                extras: Optional[Dict[str, torch.Tensor]] = None) -> torch.Tensor:
    """Logits (B, Q, *size): :func:`grid_map`, upsampled bilinearly."""
    with stage('inference.grid'):
        return F.interpolate(grid_map(feats, text, grid, head, extras), size=tuple(size), mode='bilinear',
                             align_corners=False)


class WindowInference(nn.Module):
    """Shared machinery: run windows through the encoder in batches and keep their unit-norm features.

    Args:
        batch_size: crops per forward pass.
        pad_multiple: pad each window with zeros to a multiple of this ('patch': the encoder's patch size; None:
            no padding).
    """

    def __init__(self, batch_size: int = 16, pad_multiple: Union[int, str, None] = None):
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f'inference batch_size must be an int >= 1, got {batch_size!r}')
        if not (pad_multiple in (None, 'patch') or (isinstance(pad_multiple, int) and pad_multiple > 0)):
            raise ValueError(f"inference pad_multiple must be None, 'patch' or an int > 0, got {pad_multiple!r}")
        self.batch_size, self.pad_multiple = batch_size, pad_multiple

    def windows(self, height: int, width: int) -> List[Box]:
        raise NotImplementedError

    def encode(self, clip, image: torch.Tensor, text: Any = None, regions: Any = None) -> CropFeatures:
        """Dense features of every window of one image (1, 3, H, W), computed in batches of crops."""
        height, width = image.shape[-2:]
        boxes = self.windows(height, width)
        crop_h, crop_w = boxes[0][1] - boxes[0][0], boxes[0][3] - boxes[0][2]
        top, bottom, left, right = self.window_padding(clip, crop_h, crop_w)
        feats, grid, extras = [], None, []
        for start in range(0, len(boxes), self.batch_size):
            batch = boxes[start:start + self.batch_size]
            crops = torch.cat([image[:, :, y1:y2, x1:x2] for y1, y2, x1, x2 in batch])
            extras.append({})
            part, grid = clip.encode_dense(F.pad(crops, (left, right, top, bottom)), text=text,
                                           regions=self._window_regions(regions, (height, width), batch,
                                                                        (top, bottom, left, right)),
                                           extras=extras[-1])
            feats.append(part / part.norm(dim=-1, keepdim=True))
        padded = (crop_h + top + bottom, crop_w + left + right)
        extras = {key: torch.cat([e[key] for e in extras]) for key in extras[0]}
        return CropFeatures(boxes, torch.cat(feats), grid, padded, (top, left), (height, width), extras)

    def window_padding(self, clip, crop_h: int, crop_w: int) -> Tuple[int, int, int, int]:
        """(top, bottom, left, right) padding of a ``crop_h`` x ``crop_w`` window: to ``pad_multiple`` when set, and
        at least to one patch."""
        multiple = clip.patch_size if self.pad_multiple == 'patch' else self.pad_multiple
        (top, bottom), (left, right) = (pad_amounts(crop_h, multiple), pad_amounts(crop_w, multiple)) \
            if multiple else ((0, 0), (0, 0))
        # A window smaller than one patch would give no token at all: pad it (bottom/right) up to one patch.
        bottom += max(0, clip.patch_size - (crop_h + top + bottom))
        right += max(0, clip.patch_size - (crop_w + left + right))
        return top, bottom, left, right

    @staticmethod
    def _window_regions(regions: Any, size: Tuple[int, int], boxes: List[Box], pad: Tuple[int, int, int, int]):
        """The region ids (n, h, w) of ``boxes``, padded like the crops, from a region map with ``window()``
        (:class:`~sclip_toolkit.models.regions.RegionMap`); anything else is passed on as it is."""
        if regions is None or not hasattr(regions, 'window'):
            return regions
        return torch.stack([regions.window(size, box, pad) for box in boxes])

    def source(self, crops: CropFeatures, text: torch.Tensor, head: Optional[nn.Module] = None,
               max_bytes: Optional[int] = None) -> torch.Tensor:
        """The logits (1, Q', h, w) that the last bilinear resize takes to the original size (cosine, or through the
        classification ``head``, which then gets all names); window logits are decoded about ``max_bytes`` at a
        time (None: ``batch_size`` windows)."""
        raise NotImplementedError

    def source_size(self, crops: CropFeatures) -> Tuple[int, int]:
        """(h, w) of :meth:`source`, without computing it."""
        return crops.image_shape

    def source_rows(self, crops: CropFeatures, text: torch.Tensor, rows: Tuple[int, int],
                    head: Optional[nn.Module] = None, max_bytes: Optional[int] = None) -> torch.Tensor:
        """Rows ``[s0, s1)`` (1, Q', s1 - s0, w) of :meth:`source`, equal to slicing it. Subclasses compute only
        what those rows need, decoding at most about ``max_bytes`` of window logits at once; this fallback (for
        inference parts that only define :meth:`source`) computes the whole map."""
        return self.source(crops, text, head)[:, :, rows[0]:rows[1]]

    def decode(self, crops: CropFeatures, text: torch.Tensor, ori_shape: Tuple[int, int],
               head: Optional[nn.Module] = None, max_bytes: Optional[int] = None) -> torch.Tensor:
        """Raw logits (1, Q', H0, W0) for the names ``text`` (Q', E) at the original size."""
        with stage('inference.source', self):
            source = self.source(crops, text, head, max_bytes)
        return F.interpolate(source, size=ori_shape, mode='bilinear', align_corners=False)

    def decode_rows(self, source: torch.Tensor, ori_shape: Tuple[int, int], rows: Tuple[int, int],
                    offset: int = 0, source_height: Optional[int] = None) -> torch.Tensor:
        """Rows ``[r0, r1)`` (1, Q', r1 - r0, W0) of :meth:`decode`, from its :meth:`source` (see ``banding``), or
        from rows ``[offset, offset + source.shape[-2])`` of a source map ``source_height`` rows high."""
        return resize_rows(source, ori_shape, rows, offset=offset, source_height=source_height)

    def extra_repr(self) -> str:
        return f'batch_size={self.batch_size}, pad_multiple={self.pad_multiple}'
