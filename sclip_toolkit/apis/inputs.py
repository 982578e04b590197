"""Decoding the images the API and the app are given (paths, PIL images, arrays) into (H, W, 3) uint8 RGB, and the
one downscaler both use (``max_side``).

The bundled example photo (CC0, see assets/README.md) and classes that suit it live here too.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
from PIL import Image

from ..exceptions import SegmenterError

ASSETS_DIR = Path(__file__).resolve().parents[1] / 'assets'
EXAMPLE_IMAGE = ASSETS_DIR / 'coffee.jpg'
EXAMPLE_CLASSES = ['coffee', 'cup', 'saucer, plate', 'spoon', 'wooden table, table']

ImageInput = Union[str, os.PathLike, np.ndarray, Image.Image]


def _rgb_from_array(array: np.ndarray, what: str) -> np.ndarray:
    """(H, W), (H, W, 1|2|3|4) array of uint8/uint16/bool/float in [0, 1]/small ints -> (H, W, 3) uint8 RGB.

    16-bit values keep their high byte (``>> 8``), as OpenCV's colour decoding does for 16-bit files, so an array
    and the same picture read from disk give the same pixels. A second or fourth channel (alpha) is dropped.
    """
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 3 and array.shape[2] in (2, 4):
        array = array[..., :-1]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)) or 0 in array.shape[:2]:
        hint = ' (channels first? use array.transpose(1, 2, 0))' if array.ndim == 3 and array.shape[0] in (3, 4) \
            else ''
        raise SegmenterError(f'{what}: expected an (H, W) or (H, W, 3|4) image, got shape {array.shape}{hint}')
    if array.dtype == np.uint8:
        out = array
    elif array.dtype == np.uint16:
        out = (array >> 8).astype(np.uint8)
    elif array.dtype == np.bool_:
        out = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise SegmenterError(f'{what}: float images must hold values in [0, 1] (got {np.nanmin(array):.3g} .. '
                                 f'{np.nanmax(array):.3g}); for 0..255 data pass array.astype(np.uint8)')
        out = np.round(array * 255).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.integer) and array.min() >= 0 and array.max() <= 255:
        out = array.astype(np.uint8)
    else:
        raise SegmenterError(f'{what}: unsupported pixel type {array.dtype} (values {array.min()} .. {array.max()});'
                             f' give uint8, uint16, bool, or floats in [0, 1]')
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return np.ascontiguousarray(out)


def load_image(image: ImageInput) -> np.ndarray:
    """Any supported image -> (H, W, 3) uint8 RGB.

    Args:
        image: a file path (decoded as the evaluation pipeline's ``LoadImageChecked`` does: OpenCV, colour,
            EXIF orientation applied; truncated or corrupt files raise SegmenterError naming the file), a PIL image
            (any mode: palette, grayscale, RGBA, 16-bit), or an RGB array (see
            :func:`_rgb_from_array` for the accepted shapes and types).
    """
    if isinstance(image, (str, os.PathLike)):
        from ..datasets.loading import ImageLoadError, decode_image
        path = Path(image).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f'image file {str(image)!r} not found')
        try:
            return np.ascontiguousarray(decode_image(path.read_bytes(), str(path))[..., ::-1])
        except ImageLoadError as exc:
            raise SegmenterError(f'could not decode image {exc}') from None
    if isinstance(image, Image.Image):
        from PIL import ImageOps
        image = ImageOps.exif_transpose(image)  # as a path to the same file is decoded: upright
        if image.mode in ('I;16', 'I;16L', 'I;16B', 'I;16N', 'I'):
            array = np.asarray(image)
            if array.size and (array.min() < 0 or array.max() > 65535):
                raise SegmenterError(f'PIL image of mode {image.mode!r} has values {array.min()} .. {array.max()}, '
                                     f'outside 16 bits')
            return _rgb_from_array(array.astype(np.uint16), f'PIL image (mode {image.mode})')
        if image.mode not in ('L', 'LA', 'RGB', 'RGBA'):  # palette, 1-bit, CMYK, YCbCr, float, ...
            image = image.convert('RGB' if image.mode != 'F' else 'L')
        return _rgb_from_array(np.asarray(image), f'PIL image (mode {image.mode})')
    if isinstance(image, np.ndarray):
        return _rgb_from_array(image, 'image array')
    raise SegmenterError(f'image must be a file path, a PIL image or a numpy array, not {type(image).__name__}')


def check_max_side(max_side: Optional[int], what: str = 'max_side') -> Optional[int]:
    if max_side is not None and (isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 16):
        raise SegmenterError(f'{what} must be a whole number of pixels >= 16, got {max_side!r}')
    return max_side


def downscale(rgb: np.ndarray, max_side: Optional[int]) -> Tuple[np.ndarray, Optional[Tuple[int, int]]]:
    """The image with its longer side at most ``max_side`` (area averaging), and its original (H, W) when it was
    downscaled (else None)."""
    height, width = rgb.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return rgb, None
    import cv2
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)), (height, width)
