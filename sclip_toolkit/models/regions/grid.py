"""A weight-free region generator: a regular grid of square cells (a baseline, and regions for tests)."""
from __future__ import annotations

from typing import Optional

import numpy as np
from mmseg.registry import MODELS

from .base import RegionGenerator


@MODELS.register_module()
class GridRegions(RegionGenerator):
    """Square cells of ``cell`` pixels of the original image, ids 1, 2, ... row by row (no unsegmented pixel).

    Needs no model, so any region-based method runs without mask weights (e.g. in tests, or as a baseline that
    shows what real masks add). Not cached: it is cheaper than reading a file.

    Args:
        cell: side of a cell in pixels of the original image.
    """

    cacheable = False
    needs_image = False

    def __init__(self, cell: int = 64):
        super().__init__(cache_dir=False)
        if not isinstance(cell, int) or cell < 1:
            raise ValueError(f'GridRegions cell must be an int >= 1 (pixels), got {cell!r}')
        self.cell = cell

    def setting(self) -> dict:
        return dict(cell=self.cell)

    def generate(self, rgb: Optional[np.ndarray], meta: dict) -> np.ndarray:
        height, width = meta['ori_shape'][:2]
        rows = np.arange(height)[:, None] // self.cell
        cols = np.arange(width)[None, :] // self.cell
        return 1 + rows * (-(-width // self.cell)) + cols
