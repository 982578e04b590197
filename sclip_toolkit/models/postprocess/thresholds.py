"""Score-stage steps: the references' area and probability thresholds and NACLIP's renormalisation."""
from __future__ import annotations

from mmseg.registry import MODELS

from ..scoring.base import ScoreMap
from .base import PostProcessStep, StepContext


@MODELS.register_module()
class AreaThreshold(PostProcessStep):
    """Drop the foreground classes (c >= 1) whose argmax area is at most ``threshold`` of the foreground area.

    The share is taken among pixels predicted as foreground, as SCLIP and SC-CLIP do; dropped classes' scores
    become 0 and the pixels go to their next class.
    """

    uses_background = True

    def __init__(self, threshold: float = 0.1):
        super().__init__()
        if not 0 <= threshold < 1:
            raise ValueError(f'AreaThreshold threshold must be in [0, 1), got {threshold!r}')
        self.threshold = float(threshold)

    def forward(self, scores: ScoreMap, ctx: StepContext) -> None:
        counts = scores.class_counts().float()
        counts[0] = 0
        drop = counts <= self.threshold * counts.sum()
        drop[0] = False
        scores.drop_classes(drop)

    def extra_repr(self) -> str:
        return f'threshold={self.threshold}'


@MODELS.register_module()
class ProbThreshold(PostProcessStep):
    """Label 0 (background) wherever the top class score is below ``threshold``."""

    uses_background = True

    def __init__(self, threshold: float = 0.1):
        super().__init__()
        if not 0 <= threshold <= 1:
            raise ValueError(f'ProbThreshold threshold must be in [0, 1], got {threshold!r}')
        self.threshold = float(threshold)

    def forward(self, scores: ScoreMap, ctx: StepContext) -> None:
        if self.threshold > 0:
            scores.background_below(self.threshold)

    def extra_repr(self) -> str:
        return f'threshold={self.threshold}'


@MODELS.register_module()
class Renormalize(PostProcessStep):
    """Class scores renormalised to sum 1 per pixel (NACLIP stores them so); labels do not change."""

    def forward(self, scores: ScoreMap, ctx: StepContext) -> None:
        scores.renormalize()
