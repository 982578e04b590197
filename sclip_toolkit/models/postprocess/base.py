"""The post-processing interface: ordered steps on the logits, then on the class scores.

A step works at one of two stages:

* ``'logits'``: on raw cosine logits (1, Q, H, W) at the original size, before the softmax over names (PAMR,
  region-based corrections). ``per_channel = True`` says the step treats every name channel by itself, so the
  large-vocabulary path may run it on chunks of names.
* ``'scores'``: on the class scores, through a :class:`ScoreMap`. The dense map holds every class's probabilities;
  the streamed map (large vocabularies) holds only a running best name, its logit and the softmax denominator per
  pixel, and can re-scan the names when classes are dropped. A step that only uses the :class:`ScoreMap` methods
  works on both; one that needs the full tensor sets ``streamable = False``, and the segmentor then refuses the
  streamed path (or falls back to the dense one) rather than give different labels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Tuple

import torch
import torch.nn as nn

from ...exceptions import ConfigError


class StreamingUnsupported(ConfigError):
    """A step asked the streamed score map for something it cannot compute without every class's scores."""


@dataclass
class StepContext:
    """What a step may read besides the scores.

    Attributes:
        image: the preprocessed input (1, 3, h, w) the encoder saw (the guidance image of PAMR).
        ori_shape: (H0, W0), the size of the logits and labels.
        regions: region masks from a region generator, when one is configured.
        rows: (r0, r1) when the step sees a band of rows [r0, r1) of the (H0, W0) map (the large-image path);
            None: the whole map.
        features: what the inference part computed for the image (e.g. Trident's SAM encoding).
    """
    image: torch.Tensor
    ori_shape: Tuple[int, int]
    regions: object = None
    rows: Optional[Tuple[int, int]] = None
    features: object = None


class ScoreMap:
    """Class scores of one image as the score-stage steps see them.

    ``argmax`` and ``top`` give the best class and its score under the current scores; ``drop_classes`` zeroes
    classes; ``set_background`` forces label 0 where a mask is set (kept through later changes to the scores);
    ``renormalize`` divides by the per-pixel sum; ``set_labels`` replaces the label map itself (a step that
    corrects labels, not scores: the scores stay as they are).
    """

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.background: Optional[torch.Tensor] = None
        self.fixed_labels: Optional[torch.Tensor] = None

    def argmax(self) -> torch.Tensor:
        """(H, W) int64: the best class (first on ties) under the current scores."""
        raise NotImplementedError

    def top(self) -> torch.Tensor:
        """(H, W): the best class's score under the current scores."""
        raise NotImplementedError

    def drop_classes(self, drop: torch.Tensor) -> None:
        """Zero the scores of the classes where ``drop`` (C,) bool is set."""
        raise NotImplementedError

    def renormalize(self) -> None:
        raise NotImplementedError

    def set_background(self, where: torch.Tensor) -> None:
        """Label 0 wherever ``where`` (H, W) bool is set, whatever later steps do to the scores."""
        self.background = where if self.background is None else self.background | where

    def background_below(self, threshold: float) -> None:
        """Label 0 wherever the best class's score is below ``threshold``."""
        self.set_background(self.top() < threshold)

    def class_counts(self) -> torch.Tensor:
        """(C,) int64: pixels whose best class (:meth:`argmax`, background ignored) is each class."""
        return torch.bincount(self.argmax().flatten(), minlength=self.num_classes)

    def set_labels(self, labels: torch.Tensor) -> None:
        """Make ``labels`` (H, W) int64 the final label map; later background masks still apply on top."""
        self.fixed_labels, self.background = labels, None

    def _base_labels(self) -> torch.Tensor:
        return self.fixed_labels.clone() if self.fixed_labels is not None else self.argmax().clone()

    def labels(self) -> torch.Tensor:
        """The final label map (1, H, W) int64."""
        labels = self._base_labels()
        if self.background is not None:
            labels[self.background] = 0
        return labels[None]


class DenseScores(ScoreMap):
    """Every class's probabilities (C, H, W) in memory."""

    def __init__(self, probs: torch.Tensor):
        super().__init__(probs.shape[0])
        self.probs = probs
        self._cached: Optional[Tuple[torch.Tensor, torch.Tensor]] = None

    def _max(self) -> Tuple[torch.Tensor, torch.Tensor]:
        if self._cached is None:
            self._cached = self.probs.max(dim=0)
        return self._cached

    def argmax(self) -> torch.Tensor:
        return self._max()[1]

    def top(self) -> torch.Tensor:
        return self._max()[0]

    def drop_classes(self, drop: torch.Tensor) -> None:
        self.probs = self.probs.mul_((~drop).view(-1, 1, 1).to(self.probs.dtype))  # the map is this object's own
        self._cached = None

    def renormalize(self) -> None:
        self.probs = self.probs / self.probs.sum(dim=0, keepdim=True)
        self._cached = None


class StreamedScores(ScoreMap):
    """The label path without the scores: per pixel the best name, its scaled logit and the softmax denominator.

    The argmax of the softmax is the argmax of the logits, and the top probability is exp(best - max) / sum(exp(
    L - max)), so these give the dense path's labels and top scores exactly. Dropping classes re-scans the names
    (``rescan(keep_name)`` -> best scaled logit and name index among the kept names).

    Args:
        best: (H, W) the largest scaled logit over all names; best_idx: (H, W) its name; denom: (H, W)
            sum over names of exp(scaled logit - best).
        query_idx: (Q,) class of each name; num_classes: C.
    """

    def __init__(self, best: torch.Tensor, best_idx: torch.Tensor, denom: torch.Tensor, query_idx: torch.Tensor,
                 num_classes: int, rescan: Callable[[torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]):
        super().__init__(num_classes)
        self.best, self.denom, self.query_idx, self.rescan = best, denom, query_idx, rescan
        self.kept_best, self.kept_idx = best, best_idx
        self.dropped = torch.zeros(num_classes, dtype=torch.bool, device=query_idx.device)
        self.normalized = False

    def argmax(self) -> torch.Tensor:
        return self.query_idx[self.kept_idx]  # renormalising changes no argmax

    def top(self) -> torch.Tensor:
        if self.normalized:
            raise StreamingUnsupported('the scores were renormalised, and the streamed path keeps no per-class sums; '
                                       'put Renormalize after the steps that read scores')
        top = self.kept_best - self.best  # in place from here: one (H, W) temporary at full resolution
        return top.exp_().div_(self.denom)

    def drop_classes(self, drop: torch.Tensor) -> None:
        drop = drop.to(self.dropped.device)
        if not (drop & ~self.dropped).any():
            return
        self.dropped |= drop
        self.kept_best, self.kept_idx = self.rescan(~self.dropped[self.query_idx])

    def renormalize(self) -> None:
        self.normalized = True  # changes no label; a later read of the scores is refused

    def labels(self) -> torch.Tensor:
        labels = self._base_labels()
        if self.background is not None:
            labels[self.background] = 0
        return labels[None]


class PostProcessStep(nn.Module):
    """Base class of a registered post-processing step.

    Attributes:
        stage: 'logits' or 'scores' (see the module docstring).
        per_channel: (logits stage) the step treats every name channel by itself.
        streamable: (scores stage) the step uses only the :class:`ScoreMap` methods.
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
        """Logits stage: (1, Q, H, W) -> (1, Q, H, W). Scores stage: update the :class:`ScoreMap` ``x`` in place."""
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


class BandedScores(ScoreMap):
    """The class scores of a large image as a series of row bands, never all in memory (the large-image path).

    Steps see one map: per-pixel operations (dropping classes, background below a threshold, renormalising) are
    recorded and replayed on each band when it is computed; :meth:`class_counts` makes a pass over every band.
    ``argmax``/``top`` of the whole map are refused: a step that needs them sets ``bandable = False``.

    Args:
        num_classes: C.
        bands: a callable yielding ((r0, r1), ScoreMap of those rows) for every band, recomputed on each call.
    """

    def __init__(self, num_classes: int, bands: Callable[[], Iterator[Tuple[Tuple[int, int], ScoreMap]]]):
        super().__init__(num_classes)
        self.bands, self.ops = bands, []

    def drop_classes(self, drop: torch.Tensor) -> None:
        self.ops.append(('drop_classes', drop.clone()))

    def renormalize(self) -> None:
        self.ops.append(('renormalize',))

    def background_below(self, threshold: float) -> None:
        self.ops.append(('background_below', threshold))

    def set_background(self, where: torch.Tensor) -> None:
        self.ops.append(('set_background', where))

    def replay(self, band: ScoreMap, rows: Tuple[int, int]) -> ScoreMap:
        """Apply the recorded operations to the map of rows ``rows``; returns it."""
        for name, *args in self.ops:
            if name == 'set_background':
                band.set_background(args[0][rows[0]:rows[1]])
            else:
                getattr(band, name)(*args)
        return band

    def replayed(self) -> Iterator[Tuple[Tuple[int, int], ScoreMap]]:
        for rows, band in self.bands():
            yield rows, self.replay(band, rows)

    def class_counts(self) -> torch.Tensor:
        counts = torch.zeros(self.num_classes, dtype=torch.long)
        for _, band in self.replayed():
            counts += band.class_counts().cpu()
        return counts

    def argmax(self) -> torch.Tensor:
        raise StreamingUnsupported('a step read the whole score map on the large-image path; give it bandable = '
                                   'False, or use ScoreMap.class_counts / background_below')

    top = argmax
