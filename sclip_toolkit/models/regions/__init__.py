"""Region generators: an image -> integer region ids at its original size (see :mod:`.base` for the interface)."""
from .base import PAD_ID, RegionGenerator, RegionMap, original_rgb, region_cache_root
from .grid import GridRegions
from .precomputed import PrecomputedMasks
from .sam2 import OVStitcherSAM2Masks, SAM2Masks, paint_masks

__all__ = ['PAD_ID', 'RegionGenerator', 'RegionMap', 'original_rgb', 'region_cache_root', 'GridRegions', 'PrecomputedMasks',
           'OVStitcherSAM2Masks', 'SAM2Masks', 'paint_masks']
