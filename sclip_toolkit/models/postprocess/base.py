"""The post-processing interface: ordered steps on the logits, then on the class scores.

A step works at one of two stages:

* ``'logits'``: on raw cosine logits (1, Q, H, W) at the original size, before the softmax over names (PAMR,
  region-based corrections). ``per_channel = True`` says the step treats every name channel by itself, so the
  large-vocabulary path may run it on chunks of names.
* ``'scores'``: on the class scores, through a :class:`~sclip_toolkit.models.scoring.ScoreMap`. The dense map holds
  every class's probabilities; the streamed map (large vocabularies) holds only a running best name, its logit and
  the softmax denominator per pixel, and can re-scan the names when classes are dropped. A step that only uses the
  ``ScoreMap`` methods works on both; one that needs the full tensor sets ``streamable = False``, and the segmentor then refuses the
  streamed path (or falls back to the dense one) rather than give different labels.

The score maps and the label paths that make them are in ``models/scoring/``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn as nn


@dataclass
class StepContext:
    """What a step may read besides the scores.

    Attributes:
        image: the preprocessed input (1, 3, h, w) the encoder saw (the guidance image of PAMR).
        ori_shape: (H0, W0), the size of the logits and labels.
        regions: region masks from a region generator, when one is configured.
        rows: (r0, r1) when the step sees a band of rows [r0, r1) of the (H0, W0) map (the large-image path);
            None: the whole map.
    """
    image: torch.Tensor
    ori_shape: Tuple[int, int]
    regions: object = None
    rows: Optional[Tuple[int, int]] = None


class PostProcessStep(nn.Module):
    """Base class of a registered post-processing step.

    Attributes:
        stage: 'logits' or 'scores' (see the module docstring).
        per_channel: (logits stage) the step treats every name channel by itself.
        streamable: (scores stage) the step uses only the :class:`~sclip_toolkit.models.scoring.ScoreMap` methods.
        uses_background: the step assumes class 0 is a background class (the API leaves such steps out for
            free-form vocabularies).
        halo: (logits stage) rows of context the step needs on each side of a band of rows; None: it needs the
            whole map, and the large-image path is not used.
        bandable: (scores stage) the step gives the same result on each band of rows by itself (per-pixel
            steps); False: the large-image path counts over every band first (``class_counts``) or is not used.
        band_bytes_per_pixel / full_bytes_per_pixel: (logits stage) extra memory per pixel that the step needs on a
            band of rows / on the whole map.
    """

    stage: str = 'scores'
    per_channel: bool = False
    streamable: bool = True
    uses_background: bool = False
    halo: Optional[int] = None
    bandable: bool = True
    band_bytes_per_pixel: int = 0
    full_bytes_per_pixel: int = 0

    def forward(self, x, ctx: StepContext):
        """Logits stage: (1, Q, H, W) -> (1, Q, H, W). Scores stage: update the
        :class:`~sclip_toolkit.models.scoring.ScoreMap` ``x`` in place."""
        raise NotImplementedError


def build_steps(cfgs) -> nn.ModuleList:
    """Build the ordered steps of ``post_process`` (a list of configs) and check their order of stages."""
    from mmseg.registry import MODELS
    steps = nn.ModuleList(c if isinstance(c, nn.Module) else MODELS.build(c) for c in (cfgs or []))
    for i, step in enumerate(steps):
        if not isinstance(step, PostProcessStep):
            raise TypeError(f'post_process[{i}] is a {type(step).__name__}, not a PostProcessStep')
        if step.stage not in ('logits', 'scores'):
            raise ValueError(f"post_process[{i}] ({type(step).__name__}) has stage {step.stage!r}; use 'logits' or "
                             f"'scores'")
    stages = [s.stage for s in steps]
    if 'logits' in stages and 'scores' in stages and stages.index('scores') < len(stages) - stages[::-1].index(
            'logits') - 1:
        raise ValueError(f'post_process: every logits-stage step must come before the scores-stage steps '
                         f'(logits are turned into scores once); got {[type(s).__name__ for s in steps]}')
    return steps
