"""Region-based label correction: CorrCLIP's map correction (Zhang et al., ICCV 2025)."""
from __future__ import annotations

import torch
from mmseg.registry import MODELS

from ...exceptions import ConfigError
from ..scoring.base import ScoreMap
from .base import PostProcessStep, StepContext


def region_vote(labels: torch.Tensor, ids: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Every region takes its most frequent label (ties: the smallest class, as ``torch.mode`` on CPU).

    Args:
        labels: (H, W) int64 label map; ids: (H, W) region ids; the smallest id present ("unsegmented") is left
            as it is.

    Returns:
        (H, W) int64 corrected labels.
    """
    values, inverse = torch.unique(ids, return_inverse=True)
    counts = torch.bincount((inverse * num_classes + labels).flatten(), minlength=len(values) * num_classes)
    winner = counts.view(len(values), num_classes).argmax(dim=1)  # first maximum = smallest class
    voted = winner[inverse]
    return torch.where(inverse == 0, labels, voted)


@MODELS.register_module()
class RegionVote(PostProcessStep):
    """Each region of the region generator's map takes its majority label (CorrCLIP's map correction).

    Runs on the final labels (after thresholds); the class scores are not changed. Needs
    ``model.region_generator``; without one it is an error (a silent no-op would hide a wrong config).
    """

    def forward(self, scores: ScoreMap, ctx: StepContext) -> None:
        if ctx.regions is None:
            raise ConfigError('RegionVote needs region masks: configure model.region_generator (e.g. '
                              "dict(type='SAM2Masks') or dict(type='PrecomputedMasks', folder=...))")
        labels = scores.labels()[0]
        ids = ctx.regions.ids.to(labels.device)
        if tuple(ids.shape) != tuple(labels.shape):
            raise ValueError(f'RegionVote: region map {tuple(ids.shape)} and labels {tuple(labels.shape)} differ')
        scores.set_labels(region_vote(labels, ids, scores.num_classes))
