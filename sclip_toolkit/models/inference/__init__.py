"""Window inference modes: an image -> window features -> logits at the original size (importing registers them).

``base.py`` holds the contract (:class:`WindowInference`, :class:`CropFeatures`); one file per mode.
"""
from .base import Box, CropFeatures, WindowInference, grid_logits, grid_map, pad_amounts, pair
from .slide import SlideInference, slide_windows
from .spliced import SplicedFeatures, SplicedInference, splice_windows, trident_resize
from .stitched import Placement, StitchContext, StitchedInference, WindowSet, stitch_last_block
from .whole import WholeInference

__all__ = ['Box', 'CropFeatures', 'Placement', 'SlideInference', 'SplicedFeatures', 'SplicedInference',
           'StitchContext', 'StitchedInference', 'WholeInference', 'WindowInference', 'WindowSet', 'grid_logits',
           'grid_map', 'pad_amounts', 'pair', 'slide_windows', 'splice_windows', 'stitch_last_block',
           'trident_resize']
