"""The score map: one image's class scores as the scores-stage post-processing steps see them.

The dense map holds every class's probabilities; the streamed map (large vocabularies) holds only a running best
name, its logit and the softmax denominator per pixel; the banded map (large images) is a series of row bands
(``scores.py``). A step that only uses the :class:`ScoreMap` methods works on all three.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import torch

from ...exceptions import ConfigError
from ..stages import stage

if TYPE_CHECKING:
    from ..postprocess.base import PostProcessStep
    from ..text import ClassEmbeddings


def label_dtype(num_classes: int) -> torch.dtype:
    """The smallest integer type that holds class indices 0 .. num_classes - 1."""
    return torch.uint8 if num_classes <= 256 else torch.int16 if num_classes <= 1 << 15 else torch.int32


class StreamingUnsupported(ConfigError):
    """A step asked the streamed score map for something it cannot compute without every class's scores."""


def region_votes(index: torch.Tensor, labels: torch.Tensor, num_regions: int, num_classes: int) -> torch.Tensor:
    """(num_regions, num_classes) int64 counts of each (region, label) pair; ``index`` (H, W) is each pixel's region
    as a position 0 .. num_regions - 1 among the sorted region ids."""
    counts = torch.bincount((index * num_classes + labels).flatten(), minlength=num_regions * num_classes)
    return counts.view(num_regions, num_classes)


def apply_votes(index: torch.Tensor, labels: torch.Tensor, votes: torch.Tensor) -> torch.Tensor:
    """Each region's most voted label (ties: the smallest class), except in the first region (the smallest id:
    "unsegmented"), left as it is."""
    return torch.where(index == 0, labels, votes.argmax(dim=1)[index])


def region_vote(labels: torch.Tensor, ids: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Every region takes its most frequent label (ties: the smallest class, as ``torch.mode`` on CPU).

    Args:
        labels: (H, W) int64 label map; ids: (H, W) region ids; the smallest id present ("unsegmented") is left
            as it is.

    Returns:
        (H, W) int64 corrected labels.
    """
    values, index = torch.unique(ids.to(labels.device), return_inverse=True)
    return apply_votes(index, labels, region_votes(index, labels, len(values), num_classes))


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

    def vote_in_regions(self, ids: torch.Tensor) -> None:
        """Every region of ``ids`` (H, W) takes its most frequent label (ties: the smallest class); pixels of the
        smallest id ("unsegmented") keep theirs (CorrCLIP's map correction, ``RegionVote``)."""
        self.set_labels(region_vote(self.labels()[0], ids, self.num_classes))

    def set_labels(self, labels: torch.Tensor) -> None:
        """Make ``labels`` (H, W) int64 the final label map; later background masks still apply on top."""
        self.fixed_labels, self.background = labels, None

    def _base_labels(self) -> torch.Tensor:
        return self.fixed_labels.clone() if self.fixed_labels is not None else self.argmax().clone()

    def labels(self) -> torch.Tensor:
        """The final label map (1, H, W) int64."""
        with stage('scores.labels', self):
            labels = self._base_labels()
            if self.background is not None:
                labels[self.background] = 0
            return labels[None]


@dataclasses.dataclass
class ScoringParts:
    """What the label paths read from the segmentor.

    Attributes:
        inference: the window inference part (``encode``/``decode``/``source``/``source_rows``).
        head: the classification head.
        steps: the post-processing steps, in order.
        names: every name of the vocabulary (Q), for the memory estimates.
        num_classes: C.
        class_embeddings: returns the vocabulary's :class:`~sclip_toolkit.models.text.ClassEmbeddings`.
        output_dtype: the encoder's output dtype (the score dtype 'model').
        attention: the attention variant's name, for the message about non-finite scores.
    """
    inference: Any
    head: Any
    steps: Sequence['PostProcessStep']
    names: Sequence[str]
    num_classes: int
    class_embeddings: Callable[[], 'ClassEmbeddings']
    output_dtype: torch.dtype
    attention: str = ''

    def stage(self, stage: str):
        """The steps of one stage ('logits' or 'scores'), in order."""
        return [s for s in self.steps if s.stage == stage]
