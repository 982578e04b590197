"""Image loading that refuses corrupt and truncated files with a message naming the file."""
from __future__ import annotations

from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmseg.registry import TRANSFORMS
from ..exceptions import ToolkitError


class ImageLoadError(ToolkitError, ValueError):
    """An image file is missing, empty, corrupt or truncated; the message names it."""


def check_complete(data: bytes, path: str) -> None:
    """Raise if a JPEG or PNG file is cut short: decoders fill the missing part with grey and only warn."""
    tail = data[-64:].rstrip(b'\x00')
    if data[:3] == b'\xff\xd8\xff' and b'\xff\xd9' not in tail:
        raise ImageLoadError(f'{path}: the JPEG file is truncated (no end-of-image marker); re-download or re-export it')
    if data[:8] == b'\x89PNG\r\n\x1a\n' and b'IEND' not in data[-16:]:
        raise ImageLoadError(f'{path}: the PNG file is truncated (no IEND chunk); re-download or re-export it')


def decode_image(data: bytes, path: str, backend: str = 'cv2') -> np.ndarray:
    """Decode to BGR uint8 (H, W, 3): grayscale, palette and RGBA images are converted, 16-bit scaled to 8-bit."""
    if not data:
        raise ImageLoadError(f'{path}: the file is empty')
    check_complete(data, path)
    try:
        img = mmcv.imfrombytes(data, flag='color', backend=backend)
    except Exception as exc:  # decoders raise assorted types on garbage
        raise ImageLoadError(f'{path}: cannot decode the image ({type(exc).__name__}: {exc})') from None
    if img is None or img.size == 0:
        raise ImageLoadError(f'{path}: cannot decode the image (corrupt, or not an image format OpenCV reads)')
    return img


@TRANSFORMS.register_module()
class LoadImageChecked(LoadImageFromFile):
    """mmcv's LoadImageFromFile (BGR uint8) with a clear error for missing, corrupt or truncated files."""

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except (FileNotFoundError, OSError) as exc:
            if self.ignore_empty:
                return None
            raise ImageLoadError(f'{path}: cannot read the file ({exc})') from None
        try:
            img = decode_image(data, path, self.imdecode_backend)
        except ImageLoadError:
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results.update(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        return results
