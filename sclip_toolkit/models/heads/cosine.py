"""The default head: cosine similarity of unit-norm window features and name embeddings (every method but RF-CLIP)."""
from __future__ import annotations

from typing import Dict

import torch
from mmseg.registry import MODELS

from .base import ClassifierHead


@MODELS.register_module()
class CosineHead(ClassifierHead):
    """Cosine similarity: ``feats @ names.T`` (both unit-norm)."""

    def forward(self, feats: torch.Tensor, names: torch.Tensor, extras: Dict[str, torch.Tensor]) -> torch.Tensor:
        return feats @ names.t().to(feats.dtype)
