"""The region-generator interface: an image -> an integer region-id map at the image's original size.

A generator returns a :class:`RegionMap`: one id per pixel of the original image (H0, W0). Ids need not be
consecutive; the smallest id present means "not covered by any region" (0 for every shipped generator). Consumers
see the map three ways: the whole map (post-processing steps, ``StepContext.regions``), the map resized to the
model input, and one sliding window of it, padded like the window's pixels (the attention, ``AttnContext.regions``,
as a (B, h, w) tensor of the windows' ids).

Adding a generator (Mask2Former, EoMT, ...) is one class: subclass :class:`RegionGenerator`, register it in mmseg's
``MODELS``, implement :meth:`RegionGenerator.generate` (an RGB uint8 (H0, W0, 3) array -> an integer (H0, W0)
array) and :meth:`RegionGenerator.setting` (everything that changes the masks, for the disk cache). The base class
gets the original RGB image, caches the maps on disk and wraps them in a :class:`RegionMap`.

Cache layout: ``<cache_dir>/<ClassName>-<setting hash>/<image key>.npz``, one ``instance_mask`` array per image, the
file format CorrCLIP's authors publish their masks in (plus the image's hash, so a changed image is regenerated).
The image key is the file stem when the sample has a path, else the hash of the pixels.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...exceptions import ConfigError
from ...io_utils import WriteError, atomic_open, write_error
from ..vfm import CLIP_MEAN, CLIP_STD

# Windows padded beyond the image get this id in the attention (CorrCLIP's value): one more region of its own.
PAD_ID = 10000


def region_cache_root() -> Path:
    """``$SCLIP_CACHE_DIR/regions`` or ``~/.cache/sclip_toolkit/regions``."""
    root = os.environ.get('SCLIP_CACHE_DIR')
    return (Path(root) if root else Path.home() / '.cache' / 'sclip_toolkit') / 'regions'


def nearest_resize(ids: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Resize an id map (h, w) to ``size`` with PyTorch's (legacy) nearest rule, as the reference does (via float;
    exact for ids below 2**24)."""
    if tuple(ids.shape[-2:]) == tuple(size):
        return ids
    return F.interpolate(ids[None, None].float(), size=tuple(size), mode='nearest')[0, 0].long()


class RegionMap:
    """Region ids (H0, W0) int64 of one image at its original size.

    Args:
        ids: the id map; the smallest id present means "unsegmented".
        pad_id: the id given to window padding outside the image.
    """

    def __init__(self, ids: torch.Tensor, pad_id: int = PAD_ID):
        if ids.dim() != 2 or ids.dtype.is_floating_point:
            raise ValueError(f'a region map is an integer (H, W) tensor, got {ids.dtype} {tuple(ids.shape)}')
        self.ids, self.pad_id = ids.long(), int(pad_id)
        self._resized: Dict[Tuple[int, int], torch.Tensor] = {}

    @property
    def shape(self) -> Tuple[int, int]:
        return tuple(self.ids.shape)

    def to(self, device: Union[str, torch.device]) -> 'RegionMap':
        return RegionMap(self.ids.to(device), self.pad_id)

    def at_size(self, size: Tuple[int, int]) -> torch.Tensor:
        """The map resized (nearest) to ``size`` (H, W), e.g. the model input; cached per size."""
        size = tuple(size)
        if size not in self._resized:
            self._resized[size] = nearest_resize(self.ids, size)
        return self._resized[size]

    def window(self, size: Tuple[int, int], box: Tuple[int, int, int, int],
               pad: Tuple[int, int, int, int] = (0, 0, 0, 0)) -> torch.Tensor:
        """Ids (h, w) of the window ``box`` = (y1, y2, x1, x2) of the map resized to ``size``, padded by
        ``pad`` = (top, bottom, left, right) with ``pad_id`` as the window's pixels are padded with zeros."""
        y1, y2, x1, x2 = box
        top, bottom, left, right = pad
        crop = self.at_size(size)[y1:y2, x1:x2]
        return F.pad(crop, (left, right, top, bottom), value=self.pad_id) if any(pad) else crop


def original_rgb(image: torch.Tensor, meta: dict) -> np.ndarray:
    """The original RGB image (H0, W0, 3) uint8 of a sample.

    Read from ``meta['img_path']`` with PIL (no EXIF rotation, as CorrCLIP reads it) when the sample has a file;
    otherwise (API calls on arrays) rebuilt from the CLIP-normalised input (1, 3, H, W): un-normalised and resized
    bilinearly back to ``ori_shape``, which is close to the original but not bit-exact.
    """
    path = meta.get('img_path')
    if path:
        from PIL import Image
        with Image.open(path) as img:
            return np.asarray(img.convert('RGB'))
    mean = torch.tensor(CLIP_MEAN, device=image.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(CLIP_STD, device=image.device).view(1, 3, 1, 1) * 255
    pixels = image.float() * std + mean
    ori = tuple(meta.get('ori_shape', image.shape[-2:])[:2])
    if tuple(pixels.shape[-2:]) != ori:
        pixels = F.interpolate(pixels, size=ori, mode='bilinear', align_corners=False)
    return pixels[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def _digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:16]


class RegionGenerator(nn.Module):
    """Base class of a registered region generator (``model.region_generator=dict(type=...)``).

    Calling it with the preprocessed image (1, 3, H, W) and the sample's metainfo returns a :class:`RegionMap` at
    the original size. Subclasses implement :meth:`generate` and :meth:`setting`.

    Args:
        cache_dir: where generated maps are kept: None / True: the default folder (:func:`region_cache_root`);
            a folder; False: no disk cache.
    """

    cacheable: bool = True  # generators that only read files (PrecomputedMasks) set False
    needs_image: bool = True  # False: generate() is given no pixels (rgb=None), e.g. masks looked up by file name

    def __init__(self, cache_dir: Union[str, bool, None] = None):
        super().__init__()
        self.cache_dir = cache_dir

    def setting(self) -> dict:
        """Everything that changes the masks (model, weights, thresholds), JSON-serialisable: the cache key."""
        raise NotImplementedError

    def generate(self, rgb: Optional[np.ndarray], meta: dict) -> np.ndarray:
        """Integer region ids (H0, W0) of an RGB uint8 image (H0, W0, 3) (None when ``needs_image`` is False)."""
        raise NotImplementedError

    def cache_folder(self) -> Optional[Path]:
        """The folder of this generator setting's cached maps, or None when caching is off."""
        if not self.cacheable or self.cache_dir is False:
            return None
        root = region_cache_root() if self.cache_dir in (None, True) else Path(self.cache_dir).expanduser()
        key = _digest(json.dumps(self.setting(), sort_keys=True, default=str).encode())
        return root / f'{type(self).__name__}-{key}'

    def forward(self, image: torch.Tensor, meta: dict) -> RegionMap:
        """Region map of one preprocessed image (1, 3, H, W) at ``meta['ori_shape']``, from the cache if there."""
        rgb = original_rgb(image, meta) if self.needs_image else None
        folder = self.cache_folder()
        path = image_hash = None
        if folder is not None:
            image_hash = _digest(np.ascontiguousarray(rgb).tobytes() + str(rgb.shape).encode())
            stem = Path(meta['img_path']).stem if meta.get('img_path') else image_hash
            path = folder / f'{stem}.npz'
            if path.is_file():
                with np.load(path) as cached:
                    if str(cached.get('image_sha1', '')) == image_hash:
                        return self._wrap(cached['instance_mask'], meta, path).to(image.device)
        ids = self.generate(rgb, meta)
        if path is not None:
            self._cache(path, ids, image_hash)
        return self._wrap(ids, meta, path).to(image.device)

    def _cache(self, path: Path, ids: np.ndarray, image_hash: str) -> None:
        """Keep a region map on disk (atomically: a parallel run never reads half a file); a failed write (full or
        read-only disk) only costs recomputing it next time, and says so once."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(path) as fh:
                np.savez_compressed(fh, instance_mask=ids, image_sha1=np.array(image_hash))
        except OSError as exc:
            if not getattr(self, '_cache_warned', False):
                self._cache_warned = True
                error = exc if isinstance(exc, WriteError) else write_error(path, exc)
                warnings.warn(f'region maps are not cached ({error}); they are recomputed next time', stacklevel=2)

    @staticmethod
    def _wrap(ids: np.ndarray, meta: dict, source) -> RegionMap:
        ids = np.asarray(ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ConfigError(f'region map {source or ""}: expected an integer (H, W) array, got {ids.dtype} '
                              f'{ids.shape}')
        ori = tuple(meta.get('ori_shape', ids.shape)[:2])
        if ids.shape != ori:
            raise ConfigError(f'region map {source or ""} is {ids.shape[0]}x{ids.shape[1]} but the image is '
                              f'{ori[0]}x{ori[1]}; masks must be at the original image size')
        return RegionMap(torch.from_numpy(ids.astype(np.int64)))

    def extra_repr(self) -> str:
        return ', '.join(f'{k}={v}' for k, v in self.setting().items())
