"""Scoring: window features -> logits -> class scores -> labels, on the dense, streamed or banded label path.

``base.py`` holds the contract (:class:`ScoreMap`, what scores-stage steps see; :class:`ScoringParts`, what the label
paths read from the segmentor); ``scores.py`` the three score maps; ``label_paths.py`` the paths and the choice
between them (:class:`LabelPaths`, the segmentor's ``scoring``); ``banding.py`` the row bands of the large-image path.
"""
from .banding import SourceBlocks, needed_rows, resize_rows, row_bands
from .base import ScoreMap, ScoringParts, StreamingUnsupported, label_dtype
from .scores import BandedScores, DenseScores, StreamedScores
from .label_paths import LabelPaths  # noqa: I001  (after the score maps it uses)

__all__ = ['SourceBlocks', 'needed_rows', 'resize_rows', 'row_bands', 'ScoreMap', 'ScoringParts',
           'StreamingUnsupported', 'label_dtype', 'BandedScores', 'DenseScores', 'StreamedScores', 'LabelPaths']
