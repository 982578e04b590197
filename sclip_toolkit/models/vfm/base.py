"""The VFM contract: a dense feature provider that sees the images CLIP sees.

A provider (``model.clip.vfm``) takes the CLIP-normalised windows (B, 3, H, W) the encoder gets and returns patch
features (B, C, I, J); the attention variant receives them as ``AttnContext.vfm_feats`` (ProxyCLIP's proxy
attention). The one registered provider is :class:`~sclip_toolkit.models.vfm.VFMFeatures` (``features.py``: DINO,
DINOv2, SAM, MAE; architectures in ``backbones.py``, official weights in ``weights.py``).
"""
from __future__ import annotations

import torch
import torch.nn as nn

# The CLIP preprocessing the input arrives in (OpenAI statistics on [0, 1] pixels) and the VFMs' own (ImageNet).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DEFAULT_PATCH = {'dino': 8, 'dinov2': 14, 'sam': 16, 'mae': 16}


class FeatureProvider(nn.Module):
    """Base class of a dense feature provider.

    Attributes:
        patch_size: pixels per feature cell of the input it was given (before any resize of its own).
        checkpoint_id: the weights' identity (recorded with evaluation results).
    """

    patch_size: int
    checkpoint_id: str = ''

    def apply_precision(self, dtype: torch.dtype) -> None:
        """Cast to the backbone's precision (default: leave it as it is)."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Features (B, C, I, J) of CLIP-normalised images (B, 3, H, W)."""
        raise NotImplementedError
