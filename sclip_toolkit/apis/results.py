"""The result of segmenting one image with the API."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np


@dataclass
class SegmentationResult:
    """One segmented image.

    Attributes:
        labels: (H, W) class index of every pixel (indices into ``classes``), in the smallest unsigned/signed
            integer type that holds them (uint8 up to 256 classes).
        scores: (C, H, W) float32 class probabilities (the max over each class's names); None when they were not
            asked for and did not fit the memory bound (see :class:`Segmenter`).
        classes: every class's names, the first being its display name.
        image: (H, W, 3) uint8 RGB image that was segmented (downscaled when ``max_side`` asked for it).
        timing: seconds spent embedding the names ('text_s') and segmenting ('inference_s').
        original_size: (H, W) of the input when it was downscaled first (``max_side``), else None.
        label_score_sums: (C,) sum of the labelled class's score over its pixels, when ``scores`` is None.
    """
    labels: np.ndarray
    scores: Optional[np.ndarray]
    classes: List[List[str]]
    image: np.ndarray
    timing: Dict[str, float] = field(default_factory=dict)
    original_size: Optional[Tuple[int, int]] = None
    label_score_sums: Optional[np.ndarray] = None

    @property
    def notes(self) -> List[str]:
        """What a reader of the result should know: a downscaled input, scores left out."""
        out = []
        if self.original_size is not None:
            out.append(f'input downscaled from {self.original_size[1]}x{self.original_size[0]} to '
                       f'{self.labels.shape[1]}x{self.labels.shape[0]} (max_side); labels are at the smaller size')
        if self.scores is None:
            out.append('class scores not kept (they exceed the memory bound; pass return_scores=True to get them)')
        return out

    @property
    def class_names(self) -> List[str]:
        return [names[0] for names in self.classes]

    def pixel_shares(self) -> np.ndarray:
        """(C,) share of the image's pixels labelled with each class (sums to 1)."""
        counts = np.bincount(self.labels.ravel(), minlength=len(self.classes))
        return counts / max(1, self.labels.size)

    def mean_scores(self) -> np.ndarray:
        """(C,) each class's mean score over the pixels labelled with it (NaN for a class with no pixels)."""
        flat = self.labels.ravel()
        counts = np.bincount(flat, minlength=len(self.classes)).astype(np.float64)
        if self.scores is None:
            if self.label_score_sums is None:
                return np.full(len(self.classes), np.nan)
            sums = self.label_score_sums
        else:
            chosen = np.take_along_axis(self.scores.reshape(len(self.classes), -1), flat[None].astype(np.intp),
                                        axis=0)[0]
            sums = np.bincount(flat, weights=chosen, minlength=len(self.classes))
        with np.errstate(invalid='ignore', divide='ignore'):
            return np.where(counts > 0, sums / counts, np.nan)
