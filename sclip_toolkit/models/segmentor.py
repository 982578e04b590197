"""The one registered segmentor: CLIP dense features vs. class-name embeddings, with sliding-window inference."""
from __future__ import annotations

import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from .clip import CLIPBackbone
from . import preprocessor  # noqa: F401  (registers OVSDataPreProcessor)
from .postprocess import (apply_area_threshold, pamr, probs_to_prediction, reduce_to_classes, slide_windows)
from .text import build_text_classifier, flatten_names, load_templates, parse_class_names

# CLIP normalisation, no resize: configs set the references' short side (data_preprocessor.short_side).
DEFAULT_PREPROCESSOR = dict(type='OVSDataPreProcessor', short_side=None)


def _pair(value) -> Tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value), int(value))


def _pad_amounts(size: int, multiple: int) -> Tuple[int, int]:
    """(before, after) zero padding that makes ``size`` a multiple of ``multiple`` (ClearCLIP's split)."""
    total = (multiple - size % multiple) % multiple
    return total // 2, total - total // 2


@MODELS.register_module()
class OVSegmentor(BaseSegmentor):
    """Training-free open-vocabulary segmentor: SCLIP, NACLIP, ClearCLIP, ProxyCLIP, SC-CLIP and friends.

    The method is chosen by ``clip.final_attn``; everything else is inference settings.

    Args:
        clip: config of :class:`CLIPBackbone` (weights, ``final_attn``, optional ``vfm``, precision).
        class_names: class-name file (one class per line) or a list of classes.
        separator: name separator within a line (', ', ',', '; '; None = ';' if present else ',').
        templates: prompt template set name in ``prompts/``, a file, or a list.
        allow_duplicate_names: accept a name listed under two classes (the references' COCO-Object files).
        test_cfg: ``mode`` 'slide' or 'whole'; ``crop_size``, ``stride`` (int or (h, w)); ``pad_multiple``: pad each
            crop with zeros to a multiple of this (ClearCLIP: 'patch', ProxyCLIP: 56; None: no padding);
            ``batch_size``: crops per forward pass; ``whole_resize``: 'direct' (patch grid -> original size) or
            'via_input' (-> input size -> original size, NACLIP).
        logit_scale: temperature tau multiplying the cosine logits before the softmax over names.
        prob_thd: pixels whose top class probability is below this become class 0.
        area_thd: SCLIP/SC-CLIP: drop foreground classes covering at most this share of the foreground.
        pamr_steps / pamr_dilations: PAMR refinement of the logits at the original size (0 = off).
        pamr_chunk: refine this many names at a time (bounds memory; same result).
        renormalize: store class probabilities renormalised to sum 1 (NACLIP).
        accumulate_dtype / score_dtype: 'fp32' or 'model' for the sliding-window sums and for the softmax and
            thresholds; 'model' follows the encoder's dtype (fp16 on CUDA), as ClearCLIP and NACLIP do.
    """

    def __init__(self, clip: dict, class_names: Union[str, Sequence], separator: Optional[str] = ', ',
                 templates: Union[str, Sequence[str]] = 'openai_imagenet_80', allow_duplicate_names: bool = False,
                 test_cfg: Optional[dict] = None, logit_scale: float = 40.0, prob_thd: float = 0.0,
                 area_thd: Optional[float] = None, pamr_steps: int = 0, pamr_dilations: Sequence[int] = (8, 16),
                 pamr_chunk: Optional[int] = None, renormalize: bool = False, accumulate_dtype: str = 'fp32',
                 score_dtype: str = 'fp32', data_preprocessor: Optional[dict] = None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor or DEFAULT_PREPROCESSOR, init_cfg=init_cfg)
        self.clip: CLIPBackbone = MODELS.build(clip) if isinstance(clip, dict) else clip
        self.templates = load_templates(templates)
        self.separator, self.allow_duplicate_names = separator, allow_duplicate_names
        self.test_cfg = dict(mode='slide', crop_size=224, stride=112, pad_multiple=None, batch_size=16,
                             whole_resize='direct')
        self.test_cfg.update(test_cfg or {})
        if self.test_cfg['mode'] not in ('slide', 'whole'):
            raise ValueError(f"test_cfg.mode must be 'slide' or 'whole', got {self.test_cfg['mode']!r}")
        crop, stride = (_pair(self.test_cfg[k]) for k in ('crop_size', 'stride'))
        if self.test_cfg['mode'] == 'slide' and not all(0 < s <= c for s, c in zip(stride, crop)):
            raise ValueError(f'test_cfg: need 0 < stride <= crop_size so windows cover the image, got crop_size='
                             f'{self.test_cfg["crop_size"]}, stride={self.test_cfg["stride"]}')
        self.logit_scale, self.prob_thd, self.area_thd = float(logit_scale), float(prob_thd), area_thd
        self.pamr_steps, self.pamr_dilations, self.pamr_chunk = int(pamr_steps), tuple(pamr_dilations), pamr_chunk
        self.renormalize = renormalize
        for key, value in (('accumulate_dtype', accumulate_dtype), ('score_dtype', score_dtype)):
            if value not in ('fp32', 'model'):
                raise ValueError(f"{key} must be 'fp32' or 'model', got {value!r}")
        self.accumulate_dtype, self.score_dtype = accumulate_dtype, score_dtype
        self._text_cache: Dict[tuple, Tuple[torch.Tensor, torch.Tensor, int]] = {}
        self.set_vocabulary(class_names)

    # ------------------------------------------------------------------ vocabulary
    def set_vocabulary(self, class_names: Union[str, Sequence], separator: Optional[str] = '__default__') -> None:
        """Use these classes from now on (a class-name file or a list; parsed now, embedded on first use)."""
        sep = self.separator if separator == '__default__' else separator
        self.classes: List[List[str]] = parse_class_names(class_names, sep, self.allow_duplicate_names)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def text_classifier(self) -> Tuple[torch.Tensor, torch.Tensor, int]:
        """(Q, E) name embeddings, (Q,) class index of each name, number of classes; cached per vocabulary."""
        names, query_idx = flatten_names(self.classes)
        key = (tuple(names), tuple(self.templates), self.clip.device, self.clip.dtype)
        if key not in self._text_cache:
            emb = build_text_classifier(self.clip, names, self.templates)
            self._text_cache[key] = (emb, query_idx.to(self.clip.device), len(self.classes))
        return self._text_cache[key]

    # ------------------------------------------------------------------ dense logits
    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Unit-norm dense embeddings (B, N, E) and their grid."""
        feats, grid = self.clip.encode_dense(inputs)
        return feats / feats.norm(dim=-1, keepdim=True), grid

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: Optional[List[dict]] = None,
                      size: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """Cosine logits (B, Q, H', W') of images (B, 3, H, W), upsampled bilinearly to ``size`` (default (H, W))."""
        text, _, _ = self.text_classifier()
        feats, (h, w) = self.extract_feat(inputs)
        logits = feats @ text.t().to(feats.dtype)  # (B, N, Q)
        logits = logits.permute(0, 2, 1).reshape(logits.shape[0], -1, h, w)
        return F.interpolate(logits, size=size or inputs.shape[-2:], mode='bilinear', align_corners=False)

    def _crop_logits(self, crops: torch.Tensor) -> torch.Tensor:
        """Logits at crop size for a batch of equal-size crops, padding each as configured and cutting back."""
        multiple = self.test_cfg['pad_multiple']
        if multiple == 'patch':
            multiple = self.clip.patch_size
        if not multiple:
            return self.encode_decode(crops)
        h, w = crops.shape[-2:]
        (top, bottom), (left, right) = _pad_amounts(h, multiple), _pad_amounts(w, multiple)
        logits = self.encode_decode(F.pad(crops, (left, right, top, bottom)))
        return logits[:, :, top:top + h, left:left + w]

    def slide_inference(self, image: torch.Tensor) -> torch.Tensor:
        """Averaged sliding-window logits (1, Q, H, W) of one image (1, 3, H, W); crops run in batches."""
        cfg = self.test_cfg
        height, width = image.shape[-2:]
        boxes = slide_windows(height, width, _pair(cfg['crop_size']), _pair(cfg['stride']))
        dtype = torch.float32 if self.accumulate_dtype == 'fp32' else self.clip.dtype
        total, count = None, image.new_zeros((1, 1, height, width), dtype=dtype)
        batch = max(1, int(cfg.get('batch_size') or 1))
        for start in range(0, len(boxes), batch):
            part = boxes[start:start + batch]
            crops = torch.cat([image[:, :, y1:y2, x1:x2] for y1, y2, x1, x2 in part])
            logits = self._crop_logits(crops).to(dtype)
            if total is None:
                total = image.new_zeros((1, logits.shape[1], height, width), dtype=dtype)
            for (y1, y2, x1, x2), crop_logits in zip(part, logits):
                total[0, :, y1:y2, x1:x2] += crop_logits
                count[:, :, y1:y2, x1:x2] += 1
        assert (count > 0).all(), 'sliding windows left pixels uncovered'
        return total / count

    def inference(self, image: torch.Tensor, ori_shape: Tuple[int, int]) -> torch.Tensor:
        """Raw cosine logits (1, Q, H0, W0) of one image (1, 3, H, W) at its original size, PAMR-refined if on."""
        if self.test_cfg['mode'] == 'slide':
            logits = F.interpolate(self.slide_inference(image), size=ori_shape, mode='bilinear', align_corners=False)
        elif self.test_cfg['whole_resize'] == 'via_input':
            logits = F.interpolate(self.encode_decode(image), size=ori_shape, mode='bilinear', align_corners=False)
        else:
            logits = self.encode_decode(image, size=ori_shape)
        if self.pamr_steps > 0:
            guide = F.interpolate(image.float(), size=ori_shape, mode='bilinear', align_corners=False)
            logits = pamr(guide, logits.float(), self.pamr_steps, self.pamr_dilations, self.pamr_chunk)
        return logits.to(torch.float32 if self.score_dtype == 'fp32' else self.clip.dtype)

    # ------------------------------------------------------------------ scores and labels
    def scores_from_logits(self, logits: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Class scores (C, H, W) and label map (1, H, W) from raw name logits (Q, H, W)."""
        _, query_idx, num_classes = self.text_classifier()
        probs = (self.logit_scale * logits).softmax(dim=0)
        probs = reduce_to_classes(probs, query_idx, num_classes)
        if self.area_thd is not None:
            probs = apply_area_threshold(probs, self.area_thd)
        pred = probs_to_prediction(probs, self.prob_thd)
        if self.renormalize:
            probs = probs / probs.sum(dim=0, keepdim=True)
        return probs, pred

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, data_samples: Optional[List[SegDataSample]] = None
                ) -> List[SegDataSample]:
        """Segment a batch (B, 3, H, W) of preprocessed images; fills ``seg_logits`` and ``pred_sem_seg``."""
        if data_samples is None:
            shape = tuple(inputs.shape[-2:])
            data_samples = [SegDataSample(metainfo=dict(ori_shape=shape, img_shape=shape, pad_shape=shape))
                            for _ in range(inputs.shape[0])]
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo
            img_h, img_w = meta.get('img_shape', inputs.shape[-2:])[:2]
            image = inputs[i:i + 1, :, :img_h, :img_w]  # drop batch padding
            logits = self.inference(image, tuple(meta.get('ori_shape', (img_h, img_w))[:2]))[0]
            probs, pred = self.scores_from_logits(logits)
            sample.set_data(dict(seg_logits=PixelData(data=probs), pred_sem_seg=PixelData(data=pred)))
        return data_samples

    def _forward(self, inputs: torch.Tensor, data_samples=None) -> torch.Tensor:
        """Cosine logits (B, Q, H, W) at the input size (mmseg's 'tensor' mode)."""
        return self.encode_decode(inputs)

    def loss(self, inputs, data_samples):
        raise NotImplementedError('OVSegmentor is training-free: it has no loss. Use it for inference (predict).')
