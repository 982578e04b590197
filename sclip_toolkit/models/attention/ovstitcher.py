"""OV-Stitcher (CVPR 2026 Findings; github.com/atw617/OV-Stitcher, MIT): CorrCLIP stitched.

The method is a choice of parts (``configs/_base_/methods/ovstitcher.py``): this variant (CorrCLIP's last block
with OV-Stitcher's single-head spatial branch), DINO's last block recomputed over the whole image
(``VFMFeatures(output='block')``), ``StitchedInference`` and the class-biased prompts. Under ``SlideInference`` it
runs per window, each window a whole image of its own.
"""
from __future__ import annotations

from typing import Optional, Sequence

from .base import register_attention
from .corrclip import CorrCLIPAttention


@register_attention('ovstitcher')
class OVStitcherAttention(CorrCLIPAttention):
    """CorrCLIP's region-scoped attention with OV-Stitcher's defaults.

    Args:
        spatial_attention: 'single_head' (the reference: each middle block recomputed with one head over all
            channels) or 'block' (the blocks' own heads; a fix, docs/methods.md#ov-stitcher).
        tau / merge_eps / spatial_weight / semantic_weight / spatial_blocks: as :class:`CorrCLIPAttention`
            (OV-Stitcher keeps CorrCLIP's 4, 0.2, 1.0, 0.5).
    """

    def __init__(self, tau: float = 4.0, merge_eps: Optional[float] = 0.2, spatial_weight: float = 1.0,
                 semantic_weight: float = 0.5, spatial_blocks: Optional[Sequence[int]] = None,
                 spatial_attention: str = 'single_head'):
        super().__init__(tau, merge_eps, spatial_weight, semantic_weight, spatial_blocks, spatial_attention)
