"""Decoding the images the API and the app are given (paths, PIL images, arrays) into (H, W, 3) uint8 RGB, and the
one downscaler both use (``max_side``).

Image files are read with a guard: a small compressed file can hold a huge picture (a 900 KB PNG of 30000x30000
decodes to 2.7 GB), so the size is read from the header first and pictures above a pixel limit are refused with one
line naming the limit and how to raise it. Below it, a picture larger than ``max_side`` is decoded reduced (JPEG:
the decoder's DCT scaling through PIL's ``draft``; other formats: PIL's ``reduce`` right after decoding) so that
what a request keeps follows ``max_side``, not the file. The API, ``demo.py`` and the web app all read files here.

The bundled example photo (CC0, see assets/README.md) and classes that suit it live here too.
"""
from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
from PIL import Image, ImageOps

from ..exceptions import SegmenterError

ASSETS_DIR = Path(__file__).resolve().parents[1] / 'assets'
EXAMPLE_IMAGE = ASSETS_DIR / 'coffee.jpg'
EXAMPLE_CLASSES = ['coffee', 'cup', 'saucer, plate', 'spoon', 'wooden table, table']

ImageInput = Union[str, os.PathLike, np.ndarray, Image.Image]
DEFAULT_MAX_PIXELS = 100_000_000  # about 300 MB as decoded RGB


class ImageTooLargeError(SegmenterError):
    """A picture with more pixels than the limit; the message names the limit and how to raise it."""


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


def load_image(image: ImageInput, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Any supported image -> (H, W, 3) uint8 RGB.

    Args:
        image: a file path (decoded as the evaluation pipeline's ``LoadImageChecked`` does: OpenCV, colour,
            EXIF orientation applied; truncated or corrupt files raise SegmenterError naming the file), a PIL image
            (any mode: palette, grayscale, RGBA, 16-bit), or an RGB array (see
            :func:`_rgb_from_array` for the accepted shapes and types).
        max_pixels: files whose header announces more pixels are refused before decoding (None: no limit).
    """
    if isinstance(image, (str, os.PathLike)):
        return load_scaled(image, None, max_pixels)[0]
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
    raise ImageTooLargeError(f'{name}: the picture has {size[0]}x{size[1]} = {pixels / 1e6:.0f} megapixels, above '
                             f'the limit of {max_pixels / 1e6:g} megapixels; scale it down first, or raise the limit '
                             f'with {how}')


def _rgb(image: Image.Image) -> Image.Image:
    """PIL image of any mode as 8-bit RGB: 16-bit values keep their high byte (as OpenCV's colour decoding does),
    alpha is dropped."""
    if image.mode in ('I;16', 'I;16L', 'I;16B', 'I;16N', 'I'):
        array = (np.clip(np.asarray(image), 0, 65535).astype(np.uint16) >> 8).astype(np.uint8)
        image = Image.fromarray(array)
    return image if image.mode == 'RGB' else image.convert('RGB')


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
        raise SegmenterError(f'could not decode image {name}: cannot decode the image ({type(exc).__name__}: '
                             f'{exc})') from None


def decode_file(path: Path, max_side: Optional[int] = None, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
                how: str = 'max_pixels=N') -> Tuple[np.ndarray, Optional[Tuple[int, int]]]:
    """An image file as (H, W, 3) uint8 RGB, with its longer side at most ``max_side``, and its original (H, W) when
    it was scaled down (else None).

    Pictures within ``max_side`` are decoded exactly as the evaluation pipeline decodes them (OpenCV, EXIF
    orientation applied); larger ones are decoded reduced, then area-averaged down to ``max_side``.

    Raises:
        ImageTooLargeError: more than ``max_pixels`` pixels (None: no limit), known from the header.
        SegmenterError: an empty, truncated or undecodable file (the message names it).
    """
    from ..datasets.loading import ImageLoadError, check_complete, decode_image

    path = Path(path)
    data = path.read_bytes()
    size = header_size(data) if data else None
    if size is not None:
        check_pixels(path.name, size, max_pixels, how)
    try:
        if size is not None and max_side is not None and max(size) > max_side:
            check_complete(data, str(path))
            reduced = _decode_reduced(data, path.name, size, max_side)
            # The header's size is before EXIF rotation; the reduced picture is after it.
            rotated = (reduced.shape[0] > reduced.shape[1]) != (size[1] > size[0])
            original = (size[0], size[1]) if rotated else (size[1], size[0])
            return downscale(reduced, max_side)[0], original
        rgb = np.ascontiguousarray(decode_image(data, str(path))[..., ::-1])
    except ImageLoadError as exc:
        raise SegmenterError(f'could not decode image {exc}') from None
    if size is None:  # a format only OpenCV reads: checked once decoded (OpenCV caps it at 2^30 pixels)
        check_pixels(path.name, (rgb.shape[1], rgb.shape[0]), max_pixels, how)
    return downscale(rgb, max_side)


def load_scaled(image: ImageInput, max_side: Optional[int], max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
                how: str = 'max_pixels=N') -> Tuple[np.ndarray, Optional[Tuple[int, int]]]:
    """:func:`load_image` with the longer side at most ``max_side``, and the original (H, W) when it was scaled.

    Files are decoded reduced when they are larger than ``max_side`` (see :func:`decode_file`); ``how`` says in the
    pixel-limit message how the caller raises the limit ('--max-megapixels N' on the command line).
    """
    if not isinstance(image, (str, os.PathLike)):
        return downscale(load_image(image), max_side)
    path = Path(image).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f'image file {str(image)!r} not found')
    return decode_file(path, max_side, max_pixels, how)
