"""Window inference modes: an image -> window features -> logits at the original size (importing registers them)."""
from .base import (Box, CropFeatures, SlideInference, WholeInference, WindowInference, grid_logits, grid_map,
                   pad_amounts, pair, slide_windows)

__all__ = ['Box', 'CropFeatures', 'SlideInference', 'WholeInference', 'WindowInference', 'grid_logits', 'grid_map',
           'pad_amounts', 'pair', 'slide_windows']
