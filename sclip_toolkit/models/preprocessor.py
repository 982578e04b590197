"""Data preprocessor: the references' test-time resize, CLIP normalisation, and batching of unequal sizes."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import mmcv
import torch
import torch.nn.functional as F
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS

# OpenAI CLIP statistics x 255, applied to RGB (the loaders give BGR; bgr_to_rgb flips it).
CLIP_MEAN = (122.771, 116.746, 104.094)
CLIP_STD = (68.501, 66.632, 70.323)


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


@MODELS.register_module()
class OVSDataPreProcessor(SegDataPreProcessor):
    """mmseg's SegDataPreProcessor plus the references' test-time resize, as a model setting.

    The references resize in the data pipeline (``Resize(scale=(2048, S), keep_ratio=True)``, cv2 bilinear on the
    uint8 image). Doing the same here, on the uint8 BGR image with the same mmcv call, gives identical pixels and
    makes the short side ``S`` a field of ``model`` that per-dataset configs override by dict merge. Ground truth
    is untouched (the metric compares at the original size, as in the references).

    Args:
        short_side: resize so the short side is this (None: no resize).
        max_long_side: ... unless the long side would exceed this.
        Others: as SegDataPreProcessor; defaults are CLIP's mean/std with BGR->RGB.
    """

    def __init__(self, short_side: Optional[int] = 336, max_long_side: int = 2048,
                 mean: Sequence[float] = CLIP_MEAN, std: Sequence[float] = CLIP_STD, bgr_to_rgb: bool = True,
                 **kwargs):
        # Checked here, when the model is built: a bad size would otherwise fail inside OpenCV on the first image.
        if short_side is not None and not _positive(short_side):
            raise ValueError(f'OVSDataPreProcessor: short_side (model.data_preprocessor.short_side) must be a positive '
                             f'number of pixels, or None for no resize; got {short_side!r}')
        if not _positive(max_long_side):
            raise ValueError(f'OVSDataPreProcessor: max_long_side (model.data_preprocessor.max_long_side) must be a '
                             f'positive number of pixels; got {max_long_side!r}')
        super().__init__(mean=list(mean), std=list(std), bgr_to_rgb=bgr_to_rgb, **kwargs)
        self.short_side, self.max_long_side = short_side, max_long_side

    def _rescale(self, image: torch.Tensor) -> torch.Tensor:
        """(3, H, W) uint8 -> resized (3, H', W') uint8, with mmcv's keep-ratio rule and cv2 bilinear."""
        array = image.permute(1, 2, 0).cpu().numpy()
        resized = mmcv.imrescale(array, (self.max_long_side, self.short_side), interpolation='bilinear',
                                 backend='cv2')
        if resized.ndim == 2:
            resized = resized[..., None]
        return torch.from_numpy(resized).permute(2, 0, 1).to(image.device)

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        inputs, samples = list(data['inputs']), data.get('data_samples')
        if self.short_side:
            for i, image in enumerate(inputs):
                h, w = image.shape[-2:]
                inputs[i] = self._rescale(image)
                if samples is not None:
                    new_h, new_w = inputs[i].shape[-2:]
                    samples[i].set_metainfo(dict(img_shape=(new_h, new_w), pad_shape=(new_h, new_w),
                                                 scale_factor=(new_w / w, new_h / h)))
        shapes = {tuple(x.shape[-2:]) for x in inputs}
        if training or len(shapes) == 1 or self.test_cfg:
            return super().forward(dict(data, inputs=inputs), training)
        # Images of different sizes: pad each at the bottom/right to the largest; predict() reads img_shape.
        normed = [super(OVSDataPreProcessor, self).forward(dict(inputs=[x]), training)['inputs'] for x in inputs]
        height, width = max(s[0] for s in shapes), max(s[1] for s in shapes)
        batch = torch.cat([F.pad(x, (0, width - x.shape[-1], 0, height - x.shape[-2])) for x in normed])
        return dict(inputs=batch, data_samples=samples)
