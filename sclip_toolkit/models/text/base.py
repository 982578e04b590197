"""The text side's contract: a vocabulary -> :class:`ClassEmbeddings`, one unit-norm embedding per name.

The segmentor's ``model.text_encoder`` is a :class:`TextClassifier`; every other part sees only the
:class:`ClassEmbeddings` it returns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Union

import torch
import torch.nn as nn


@dataclass(frozen=True)
class ClassEmbeddings:
    """A vocabulary's text side, as every other part sees it.

    Attributes:
        names: (Q, E) unit-norm name embeddings, in the encoder's device and dtype.
        query_idx: (Q,) class index of each name (a class scores as the best of its names).
        num_classes: C.
    """
    names: torch.Tensor
    query_idx: torch.Tensor
    num_classes: int

    @property
    def num_names(self) -> int:
        return self.names.shape[0]

    def reduce(self, probs: torch.Tensor) -> torch.Tensor:
        """(Q, ...) name probabilities -> (C, ...) class probabilities: the max over each class's names."""
        if probs.shape[0] == self.num_classes and torch.equal(self.query_idx.cpu(), torch.arange(self.num_classes)):
            return probs
        # Each class's first name copied, then an elementwise maximum with every further name: the same values as
        # a scatter 'amax' from zeros (probabilities are >= 0, and max is exact), in a few passes over (H, W)
        # planes instead of a scatter over (Q, H, W) with an index as large.
        first, rest = self._groups()
        out = probs.index_select(0, first.to(probs.device))
        for name, cls in rest:
            torch.maximum(out[cls], probs[name], out=out[cls])
        return out

    def _groups(self):
        """(C,) index of each class's first name; (name, class) of every further name."""
        idx = self.query_idx.tolist()
        seen: Dict[int, int] = {}
        rest = []
        for name, cls in enumerate(idx):
            if cls in seen:
                rest.append((name, cls))
            else:
                seen[cls] = name
        if len(seen) != self.num_classes:
            raise ValueError(f'ClassEmbeddings: {self.num_classes} classes but names for only {len(seen)}')
        return torch.tensor([seen[c] for c in range(self.num_classes)]), rest


class TextClassifier(nn.Module):
    """Base class of a text encoder part: holds the vocabulary, returns its embeddings for a CLIP backbone.

    Attributes:
        classes: the current vocabulary, every class's names (set by :meth:`set_vocabulary`).
        templates: the prompt templates the names are embedded with.
    """

    classes: List[List[str]]
    templates: List[str]

    def set_vocabulary(self, class_names: Union[str, Sequence], **kwargs) -> None:
        """Use these classes from now on (a class-name file or a list)."""
        raise NotImplementedError

    @property
    def names(self) -> List[str]:
        """Every name of every class, in class order (Q)."""
        return [name for names in self.classes for name in names]

    def is_cached(self, clip) -> bool:
        """Whether the current vocabulary's embeddings are ready for ``clip`` without encoding."""
        return False

    def forward(self, clip) -> ClassEmbeddings:
        """The current vocabulary's :class:`ClassEmbeddings` for ``clip`` (a CLIP backbone)."""
        raise NotImplementedError
