"""Image files read with a guard: the header first, a pixel limit, and a reduced decode for large pictures.

A small compressed file can hold a huge picture (a 900 KB PNG of 30000x30000 decodes to 2.7 GB), so the size is
read from the header before anything is decoded; pictures above the limit are refused with one line naming the
limit and how to raise it. Below the limit, a picture larger than ``max_side`` is decoded reduced (JPEG: the
decoder's DCT scaling through PIL's ``draft``; other formats: PIL's ``reduce`` right after decoding) so that the
memory a request keeps follows ``max_side``, not the file. The API, ``demo.py`` and the web app all read image files
here.
"""
from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from PIL import Image, ImageOps

from ..datasets.loading import ImageLoadError, check_complete, decode_image

DEFAULT_MAX_PIXELS = 100_000_000  # about 300 MB as decoded RGB


class ImageTooLargeError(ImageLoadError):
    """A picture with more pixels than the limit; the message names the limit and how to raise it."""


def header_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) read from the file's header without decoding it, or None when PIL does not know the format
    (OpenCV may still read it)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.size
        except Image.DecompressionBombError:  # PIL's own bound (~179 Mpx): read the size without it
            return _plugin_size(data)
        except Exception:  # not a format PIL identifies
            return None


def _plugin_size(data: bytes) -> Optional[Tuple[int, int]]:
    """The size as the format plugin reads it from the header (what ``Image.open`` does before its own bound)."""
    Image.init()
    for kind in Image.ID:
        factory, accept = Image.OPEN[kind]
        try:
            if accept is None or accept(data[:16]):
                return factory(io.BytesIO(data)).size
        except Exception:  # not this format
            continue
    return None


def check_pixels(name: str, size: Tuple[int, int], max_pixels: Optional[int], how: str) -> None:
    """Raise :class:`ImageTooLargeError` when ``size`` (width, height) has more than ``max_pixels`` pixels.

    Args:
        name: how the message names the picture (a file name).
        how: how the reader raises the limit, e.g. '--max-megapixels N' or 'max_pixels=N'.
    """
    pixels = size[0] * size[1]
    if max_pixels is None or pixels <= max_pixels:
        return
    raise ImageTooLargeError(f'{name}: the picture has {size[0]}x{size[1]} = {pixels / 1e6:.0f} megapixels, above the limit of '
                             f'{max_pixels / 1e6:g} megapixels; scale it down first, or raise the limit with {how}')


def _rgb(image: Image.Image) -> Image.Image:
    """PIL image of any mode as 8-bit RGB: 16-bit values keep their high byte (as OpenCV's colour decoding does),
    alpha is dropped."""
    if image.mode in ('I;16', 'I;16L', 'I;16B', 'I;16N', 'I'):
        array = (np.clip(np.asarray(image), 0, 65535).astype(np.uint16) >> 8).astype(np.uint8)
        image = Image.fromarray(array)
    return image if image.mode == 'RGB' else image.convert('RGB')


def _area_resize(rgb: np.ndarray, max_side: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    if max(height, width) <= max_side:
        return rgb
    import cv2
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))


def _decode_reduced(data: bytes, name: str, size: Tuple[int, int], max_side: int) -> np.ndarray:
    """Decode at a reduced size of at least ``max_side`` on the longer side (the caller finishes the resize)."""
    factor = max(size) / max_side
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format == 'JPEG':  # scaled by 1/2, 1/4 or 1/8 while decoding; the size stays >= requested
                image.draft('RGB', (math.ceil(size[0] / factor), math.ceil(size[1] / factor)))
            image = _rgb(ImageOps.exif_transpose(image))
            step = int(max(image.size) // max_side)
            if step >= 2:
                image = image.reduce(step)
            return np.ascontiguousarray(np.asarray(image))
    except Exception as exc:  # decoders raise assorted types on damaged data
        raise ImageLoadError(f'{name}: cannot decode the image ({type(exc).__name__}: {exc})') from None


def decode_file(path: Path, max_side: Optional[int] = None, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
                how: str = 'max_pixels=N') -> Tuple[np.ndarray, Optional[Tuple[int, int]]]:
    """An image file as (H, W, 3) uint8 RGB, with its longer side at most ``max_side``, and its original (H, W) when
    it was scaled down (else None).

    Pictures within ``max_side`` are decoded exactly as the evaluation pipeline decodes them (OpenCV, EXIF
    orientation applied); larger ones are decoded reduced, then area-averaged down to ``max_side``.

    Raises:
        ImageTooLargeError: more than ``max_pixels`` pixels (None: no limit), known from the header.
        ImageLoadError: an empty, truncated or undecodable file (the message names it).
    """
    path = Path(path)
    data = path.read_bytes()
    if not data:
        raise ImageLoadError(f'{path}: the file is empty')
    size = header_size(data)
    if size is not None:
        check_pixels(path.name, size, max_pixels, how)
    if size is None or max_side is None or max(size) <= max_side:
        rgb = np.ascontiguousarray(decode_image(data, str(path))[..., ::-1])
        if size is None:  # a format only OpenCV reads: checked once decoded (OpenCV caps it at 2^30 pixels)
            check_pixels(path.name, (rgb.shape[1], rgb.shape[0]), max_pixels, how)
        if max_side is None or max(rgb.shape[:2]) <= max_side:
            return rgb, None
        return _area_resize(rgb, max_side), rgb.shape[:2]
    check_complete(data, str(path))
    reduced = _decode_reduced(data, path.name, size, max_side)
    # The header's size is before EXIF rotation; the reduced picture is after it.
    rotated = (reduced.shape[0] > reduced.shape[1]) != (size[1] > size[0])
    original = (size[0], size[1]) if rotated else (size[1], size[0])
    return _area_resize(reduced, max_side), original
