"""Region-based label correction: CorrCLIP's map correction (Zhang et al., ICCV 2025)."""
from __future__ import annotations

from mmseg.registry import MODELS

from ...exceptions import ConfigError
from ..scoring.base import ScoreMap
from .base import PostProcessStep, StepContext


@MODELS.register_module()
class RegionVote(PostProcessStep):
    """Each region of the region generator's map takes its majority label (CorrCLIP's map correction).

    Runs on the final labels (after thresholds); the class scores are not changed. Needs
    ``model.region_generator``; without one it is an error (a silent no-op would hide a wrong config).
    """

    def forward(self, scores: ScoreMap, ctx: StepContext) -> None:  # on the large-image path: band by band
        if ctx.regions is None:
            raise ConfigError('RegionVote needs region masks: configure model.region_generator (e.g. '
                              "dict(type='SAM2Masks') or dict(type='PrecomputedMasks', folder=...))")
        ids = ctx.regions.ids
        if tuple(ids.shape) != tuple(ctx.ori_shape):
            raise ValueError(f'RegionVote: region map {tuple(ids.shape)} and labels {tuple(ctx.ori_shape)} differ')
        scores.vote_in_regions(ids)
