"""Whole inference: the image in one pass."""
from __future__ import annotations

from typing import List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmseg.registry import MODELS

from ..scoring.banding import resize_rows
from .base import Box, CropFeatures, WindowInference, grid_logits, grid_map


@MODELS.register_module()
class WholeInference(WindowInference):
    """The whole image in one pass.

    Args:
        resize: 'direct' (patch grid -> original size) or 'via_input' (-> input size -> original size, NACLIP).
        batch_size / pad_multiple: see :class:`WindowInference`.
    """

    def __init__(self, resize: str = 'direct', batch_size: int = 16, pad_multiple: Union[int, str, None] = None):
        super().__init__(batch_size, pad_multiple)
        if resize not in ('direct', 'via_input'):
            raise ValueError(f"WholeInference resize must be 'direct' or 'via_input', got {resize!r}")
        self.resize = resize

    def windows(self, height: int, width: int) -> List[Box]:
        return [(0, height, 0, width)]

    def source(self, crops: CropFeatures, text: torch.Tensor, head: Optional[nn.Module] = None,
               max_bytes: Optional[int] = None) -> torch.Tensor:
        height, width = crops.image_shape
        top, left = crops.pad_offset
        if self._on_grid(crops):
            return grid_map(crops.feats, text, crops.grid, head, crops.extras)
        logits = grid_logits(crops.feats, text, crops.grid, crops.padded_shape, head, crops.extras)
        return logits[:, :, top:top + height, left:left + width]

    def _on_grid(self, crops: CropFeatures) -> bool:
        """Whether the source is the patch-grid map itself (resized once, straight to the original size)."""
        return self.resize == 'direct' and crops.padded_shape == crops.image_shape

    def source_size(self, crops: CropFeatures) -> Tuple[int, int]:
        return crops.grid if self._on_grid(crops) else crops.image_shape

    def source_rows(self, crops: CropFeatures, text: torch.Tensor, rows: Tuple[int, int],
                    head: Optional[nn.Module] = None, max_bytes: Optional[int] = None) -> torch.Tensor:
        """Rows of the source from the patch-grid map: the upsampling to the input size is done for those rows
        only (``banding.resize_rows``, the same values as the whole upsampling)."""
        grid = grid_map(crops.feats, text, crops.grid, head, crops.extras)
        if self._on_grid(crops):
            return grid[:, :, rows[0]:rows[1]]
        top, left = crops.pad_offset
        part = resize_rows(grid, crops.padded_shape, (top + rows[0], top + rows[1]))
        return part[..., left:left + crops.image_shape[1]]

    def extra_repr(self) -> str:
        return f'resize={self.resize}, {super().extra_repr()}'
