"""Slide inference: overlapping crops whose logits are averaged over the windows covering each pixel (the
references' slide mode)."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmseg.registry import MODELS

from ..scoring.banding import resize_rows
from .base import Box, CropFeatures, WindowInference, grid_logits, grid_map, pair


def slide_windows(height: int, width: int, crop: Tuple[int, int], stride: Tuple[int, int]) -> List[Box]:
    """Sliding-window boxes (y1, y2, x1, x2) covering an image, as mmseg and the references place them.

    The last window in each direction is shifted back to end at the border; an image smaller than the crop gets
    one window of its own size.
    """
    (ch, cw), (sh, sw) = crop, stride
    rows = max(height - ch + sh - 1, 0) // sh + 1
    cols = max(width - cw + sw - 1, 0) // sw + 1
    boxes = []
    for i in range(rows):
        for j in range(cols):
            y2, x2 = min(i * sh + ch, height), min(j * sw + cw, width)
            boxes.append((max(y2 - ch, 0), y2, max(x2 - cw, 0), x2))
    return boxes


@MODELS.register_module()
class SlideInference(WindowInference):
    """Overlapping crops; each crop's logits are upsampled to the (padded) crop, cut back, summed and averaged over
    the windows covering a pixel, then resized to the original size.

    Args:
        crop_size / stride: window size and step, an int or (h, w); 0 < stride <= crop_size.
        accumulate_dtype: 'fp32' or 'model' (the encoder's dtype, fp16 on CUDA, as ClearCLIP) for the sums.
        batch_size / pad_multiple: see :class:`WindowInference`.
    """

    def __init__(self, crop_size: Union[int, Sequence[int]] = 224, stride: Union[int, Sequence[int]] = 112,
                 batch_size: int = 16, pad_multiple: Union[int, str, None] = None, accumulate_dtype: str = 'fp32'):
        super().__init__(batch_size, pad_multiple)
        self.crop_size, self.stride = pair(crop_size), pair(stride)
        if not all(0 < s <= c for s, c in zip(self.stride, self.crop_size)):
            raise ValueError(f'SlideInference: need 0 < stride <= crop_size so windows cover the image, got '
                             f'crop_size={crop_size}, stride={stride}')
        if accumulate_dtype not in ('fp32', 'model'):
            raise ValueError(f"SlideInference accumulate_dtype must be 'fp32' or 'model', got {accumulate_dtype!r}")
        self.accumulate_dtype = accumulate_dtype

    def windows(self, height: int, width: int) -> List[Box]:
        return slide_windows(height, width, self.crop_size, self.stride)

    def source(self, crops: CropFeatures, text: torch.Tensor, head: Optional[nn.Module] = None,
               max_bytes: Optional[int] = None) -> torch.Tensor:
        return self.source_rows(crops, text, (0, crops.image_shape[0]), head, max_bytes)

    def source_rows(self, crops: CropFeatures, text: torch.Tensor, rows: Tuple[int, int],
                    head: Optional[nn.Module] = None, max_bytes: Optional[int] = None) -> torch.Tensor:
        """Rows ``[s0, s1)`` of the window average: only the windows covering them are decoded, in the same order
        as for the whole map (so every pixel gets the same sums), ``batch_size`` at a time or fewer when their
        logits would exceed ``max_bytes``. A window cut by the rows is upsampled for its rows inside them only."""
        (s0, s1), width = rows, crops.image_shape[1]
        top, left = crops.pad_offset
        pad_h, pad_w = crops.padded_shape
        dtype = torch.float32 if self.accumulate_dtype == 'fp32' else crops.feats.dtype
        total = crops.feats.new_zeros((text.shape[0], s1 - s0, width), dtype=dtype)
        count = crops.feats.new_zeros((1, s1 - s0, width), dtype=dtype)
        covering = [i for i, (y1, y2, _, _) in enumerate(crops.boxes) if y1 < s1 and y2 > s0]
        group = self.batch_size
        if max_bytes is not None:
            per_window = text.shape[0] * min(pad_h, s1 - s0) * pad_w * 4
            group = int(min(group, max(1, max_bytes // per_window)))
        for first in range(0, len(covering), group):
            index = covering[first:first + group]
            # consecutive windows are sliced, not gathered: the common case of the whole map copies nothing
            lo, hi = index[0], index[-1] + 1
            sel = slice(lo, hi) if hi - lo == len(index) else torch.tensor(index)
            extras = {key: value[sel] for key, value in crops.extras.items()}
            whole = all(s0 <= crops.boxes[i][0] and crops.boxes[i][1] <= s1 for i in index)
            if whole:
                part = grid_logits(crops.feats[sel], text, crops.grid, crops.padded_shape, head, extras).to(dtype)
            else:
                part = grid_map(crops.feats[sel], text, crops.grid, head, extras)
            for k, i in enumerate(index):
                y1, y2, x1, x2 = crops.boxes[i]
                a, b = max(y1, s0), min(y2, s1)
                if whole:
                    crop_logits = part[k, :, top + a - y1:top + b - y1, left:left + x2 - x1]
                else:  # the same values as upsampling the whole window (banding.resize_rows)
                    crop_logits = resize_rows(part[k:k + 1], (pad_h, pad_w), (top + a - y1, top + b - y1))[0]
                    crop_logits = crop_logits[:, :, left:left + x2 - x1].to(dtype)
                total[:, a - s0:b - s0, x1:x2] += crop_logits
                count[:, a - s0:b - s0, x1:x2] += 1
            del part, crop_logits  # before the next group's logits are made
        assert (count > 0).all(), 'sliding windows left pixels uncovered'
        return total.div_(count)[None]  # in place: a second map of this size would cost as much as the sums

    def extra_repr(self) -> str:
        return f'crop_size={self.crop_size}, stride={self.stride}, {super().extra_repr()}'
