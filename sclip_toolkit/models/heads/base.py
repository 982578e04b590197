"""Classification heads: how a window's dense features become logits per name (the segmentor's ``model.head``).

The default, :class:`CosineHead`, is the dot product of unit-norm features and name embeddings that every method
but RF-CLIP uses. A head may adapt the names to each window (:class:`RFCLIPHead`) from per-window tensors that the
attention variant hands on (``AttnContext.extras``, kept per window in ``CropFeatures.extras``) or that the head adds
once per image in :meth:`ClassifierHead.prepare`. A head that needs every name at once sets ``needs_all_names``; the
segmentor then never decodes names in chunks (the large-vocabulary streamed path falls back to the dense one).

Shapes: B windows, N = h*w patches, E embedding width, Q names.
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn as nn


class ClassifierHead(nn.Module):
    """Base class: unit-norm features (B, N, E) and names (Q, E) -> logits (B, N, Q).

    Attributes:
        needs_all_names: the logits of one name depend on the other names (no chunked decoding).
    """

    needs_all_names: bool = False

    def prepare(self, clip, image: torch.Tensor, crops) -> None:
        """Per-image work before decoding, e.g. add per-window tensors to ``crops.extras`` (default: nothing).

        Args:
            clip: the :class:`~sclip_toolkit.models.clip.CLIPBackbone`.
            image: the preprocessed image (1, 3, H, W) the windows were cut from.
            crops: its :class:`~sclip_toolkit.models.inference.CropFeatures`.
        """

    def forward(self, feats: torch.Tensor, names: torch.Tensor, extras: Dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError
