"""The one registered segmentor: CLIP dense features vs. class-name embeddings, with sliding-window inference."""
from __future__ import annotations

import json
from dataclasses import dataclass
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
from .prediction_store import PredictionStore
from .text import TextEmbeddingCache, build_text_classifier, flatten_names, load_templates, parse_class_names

# CLIP normalisation, no resize: configs set the references' short side (data_preprocessor.short_side).
DEFAULT_PREPROCESSOR = dict(type='OVSDataPreProcessor', short_side=None)


class SegmentationError(RuntimeError):
    """Segmenting one image failed; the message names the image."""


@dataclass
class CropFeatures:
    """Unit-norm dense features of an image's windows: everything needed to decode logits for any names.

    Attributes:
        boxes: windows (y1, y2, x1, x2) in the input image.
        feats: (n_windows, N, E) features on a ``grid`` (h, w).
        padded_shape: the (padded) window size the features were computed on; pad_offset: (top, left) padding.
        image_shape: the input image size (H, W); guide: the input image, for PAMR.
    """
    boxes: List[Tuple[int, int, int, int]]
    feats: torch.Tensor
    grid: Tuple[int, int]
    padded_shape: Tuple[int, int]
    pad_offset: Tuple[int, int]
    image_shape: Tuple[int, int]
    guide: Optional[torch.Tensor] = None


def _grid_logits(feats: torch.Tensor, text: torch.Tensor, grid: Tuple[int, int], size) -> torch.Tensor:
    """Cosine logits (B, Q, *size): features (B, h*w, E) x names (Q, E), reshaped to the grid, bilinear upsampling."""
    logits = feats @ text.t().to(feats.dtype)  # (B, N, Q)
    logits = logits.permute(0, 2, 1).reshape(feats.shape[0], -1, *grid)
    return F.interpolate(logits, size=tuple(size), mode='bilinear', align_corners=False)


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
        prediction_dir: save every image's label map there and reuse those already saved (resuming a run); the
            folder is tied to these settings.
        text_cache: cache class embeddings on disk (True: ``$SCLIP_CACHE_DIR`` or ~/.cache/sclip_toolkit; a path;
            False: off).
        accumulate_dtype / score_dtype: 'fp32' or 'model' for the sliding-window sums and for the softmax and
            thresholds; 'model' follows the encoder's dtype (fp16 on CUDA), as ClearCLIP and NACLIP do.
        keep_scores: store full-resolution class scores in ``seg_logits`` (True), or only the label map, decoding
            names in chunks so memory stays bounded for large vocabularies (False); None: keep them when the
            (names x H x W) float32 scores fit in ``max_score_bytes``.
    """

    def __init__(self, clip: dict, class_names: Union[str, Sequence], separator: Optional[str] = ', ',
                 templates: Union[str, Sequence[str]] = 'openai_imagenet_80', allow_duplicate_names: bool = False,
                 test_cfg: Optional[dict] = None, logit_scale: float = 40.0, prob_thd: float = 0.0,
                 area_thd: Optional[float] = None, pamr_steps: int = 0, pamr_dilations: Sequence[int] = (8, 16),
                 pamr_chunk: Optional[int] = None, renormalize: bool = False, accumulate_dtype: str = 'fp32',
                 score_dtype: str = 'fp32', keep_scores: Optional[bool] = None, max_score_bytes: int = 1 << 28,
                 text_cache: Union[bool, str] = True, prediction_dir: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg=None):
        prep = data_preprocessor or DEFAULT_PREPROCESSOR
        if isinstance(prep, dict):  # built from mmseg's registry, so no default scope needs to be set
            prep = MODELS.build(prep)
        super().__init__(data_preprocessor=prep, init_cfg=init_cfg)
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
        self.keep_scores, self.max_score_bytes = keep_scores, int(max_score_bytes)
        cache_dir = None if text_cache is True else text_cache
        self.disk_cache = None if text_cache is False else TextEmbeddingCache(cache_dir)
        self.prediction_dir = prediction_dir
        self._store: Optional[PredictionStore] = None
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
            emb = None
            if self.disk_cache is not None:
                disk_key = self.disk_cache.key(self.clip.checkpoint_id, self.clip.dtype, self.clip.device.type, names,
                                               self.templates)
                emb = self.disk_cache.load(disk_key, len(names))
            if emb is None:
                emb = build_text_classifier(self.clip, names, self.templates)
                if self.disk_cache is not None:
                    self.disk_cache.save(disk_key, emb)
            self._text_cache[key] = (emb.to(self.clip.device, self.clip.dtype), query_idx.to(self.clip.device),
                                     len(self.classes))
        return self._text_cache[key]

    # ------------------------------------------------------------------ dense features and logits
    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Unit-norm dense embeddings (B, N, E) and their grid."""
        feats, grid = self.clip.encode_dense(inputs)
        return feats / feats.norm(dim=-1, keepdim=True), grid

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: Optional[List[dict]] = None) -> torch.Tensor:
        """Cosine logits (B, Q, H, W) of images (B, 3, H, W), upsampled bilinearly to the input size."""
        text, _, _ = self.text_classifier()
        feats, grid = self.extract_feat(inputs)
        return _grid_logits(feats, text, grid, inputs.shape[-2:])

    def encode_image(self, image: torch.Tensor) -> CropFeatures:
        """Dense features of every window of one image (1, 3, H, W), computed in batches of crops."""
        cfg = self.test_cfg
        height, width = image.shape[-2:]
        if cfg['mode'] == 'whole':
            boxes, multiple = [(0, height, 0, width)], None
        else:
            boxes = slide_windows(height, width, _pair(cfg['crop_size']), _pair(cfg['stride']))
            multiple = self.clip.patch_size if cfg['pad_multiple'] == 'patch' else cfg['pad_multiple']
        crop_h, crop_w = boxes[0][1] - boxes[0][0], boxes[0][3] - boxes[0][2]
        (top, bottom), (left, right) = (_pad_amounts(crop_h, multiple), _pad_amounts(crop_w, multiple)) \
            if multiple else ((0, 0), (0, 0))
        # A window smaller than one patch would give no token at all: pad it (bottom/right) up to one patch.
        bottom += max(0, self.clip.patch_size - (crop_h + top + bottom))
        right += max(0, self.clip.patch_size - (crop_w + left + right))
        batch = max(1, int(cfg.get('batch_size') or 1))
        feats, grid = [], None
        for start in range(0, len(boxes), batch):
            crops = torch.cat([image[:, :, y1:y2, x1:x2] for y1, y2, x1, x2 in boxes[start:start + batch]])
            part, grid = self.extract_feat(F.pad(crops, (left, right, top, bottom)))
            feats.append(part)
        padded = (crop_h + top + bottom, crop_w + left + right)
        return CropFeatures(boxes, torch.cat(feats), grid, padded, (top, left), (height, width))

    def decode_logits(self, crops: CropFeatures, text: torch.Tensor, ori_shape: Tuple[int, int]) -> torch.Tensor:
        """Raw cosine logits (Q', H0, W0) for the names ``text`` (Q', E) at the original size, PAMR-refined if on.

        Sliding windows: each crop's logits are upsampled to the (padded) crop, cut back, summed and averaged, then
        resized to the original size. Whole image: upsampled straight to the original size ('direct') or via the
        input size ('via_input', NACLIP).
        """
        height, width = crops.image_shape
        top, left = crops.pad_offset
        if self.test_cfg['mode'] == 'whole':
            if self.test_cfg['whole_resize'] == 'direct' and crops.padded_shape == (height, width):
                logits = _grid_logits(crops.feats, text, crops.grid, ori_shape)
            else:
                logits = _grid_logits(crops.feats, text, crops.grid, crops.padded_shape)
                logits = F.interpolate(logits[:, :, top:top + height, left:left + width], size=ori_shape,
                                       mode='bilinear', align_corners=False)
        else:
            dtype = torch.float32 if self.accumulate_dtype == 'fp32' else self.clip.dtype
            total = crops.feats.new_zeros((text.shape[0], height, width), dtype=dtype)
            count = crops.feats.new_zeros((1, height, width), dtype=dtype)
            batch = max(1, int(self.test_cfg.get('batch_size') or 1))
            for start in range(0, len(crops.boxes), batch):
                part = _grid_logits(crops.feats[start:start + batch], text, crops.grid, crops.padded_shape)
                for (y1, y2, x1, x2), crop_logits in zip(crops.boxes[start:start + batch], part.to(dtype)):
                    total[:, y1:y2, x1:x2] += crop_logits[:, top:top + y2 - y1, left:left + x2 - x1]
                    count[:, y1:y2, x1:x2] += 1
            assert (count > 0).all(), 'sliding windows left pixels uncovered'
            logits = F.interpolate((total / count)[None], size=ori_shape, mode='bilinear', align_corners=False)
        if self.pamr_steps > 0:
            guide = F.interpolate(crops.guide.float(), size=ori_shape, mode='bilinear', align_corners=False)
            logits = pamr(guide, logits.float(), self.pamr_steps, self.pamr_dilations, self.pamr_chunk)
        return logits[0].to(torch.float32 if self.score_dtype == 'fp32' else self.clip.dtype)

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

    def labels_streaming(self, crops: CropFeatures, ori_shape: Tuple[int, int]) -> torch.Tensor:
        """Label map (1, H0, W0) without ever holding all names' scores: names are decoded in chunks.

        The argmax of the softmax is the argmax of the logits, and the top probability is 1 / sum(exp(tau (L - max))),
        so one pass with a running max, argmax and sum of exponentials gives the same labels as the full path
        (the area threshold needs a second pass over the names of the classes it keeps).
        """
        text, query_idx, num_classes = self.text_classifier()
        # about four float32 temporaries of (chunk, H0, W0) live at once (logits, scaled, exp, interpolation)
        chunk = max(1, self.max_score_bytes // (16 * ori_shape[0] * ori_shape[1]))

        def scaled_chunks():
            """(first name index, tau * logits (chunk, H0, W0)) for consecutive chunks of names."""
            for start in range(0, text.shape[0], chunk):
                yield start, self.logit_scale * self.decode_logits(crops, text[start:start + chunk], ori_shape).float()

        best = best_idx = denom = None
        for start, scaled in scaled_chunks():
            top, idx = scaled.max(dim=0)
            if best is None:
                best, best_idx, denom = top, idx, (scaled - top).exp().sum(dim=0)
                continue
            new_best = torch.maximum(best, top)
            denom = denom * (best - new_best).exp() + (scaled - new_best).exp().sum(dim=0)
            best_idx = torch.where(top > best, idx + start, best_idx)
            best = new_best
        pred = query_idx[best_idx]
        top_prob = 1.0 / denom
        if self.area_thd is not None:
            counts = torch.bincount(pred.flatten(), minlength=num_classes).float()
            counts[0] = 0
            dropped = (counts <= self.area_thd * counts.sum()) & (torch.arange(num_classes, device=counts.device) > 0)
            if dropped.any():
                keep_name = ~dropped[query_idx]
                kept_best = torch.full_like(best, -float('inf'))
                for start, scaled in scaled_chunks():
                    scaled[~keep_name[start:start + scaled.shape[0]]] = -float('inf')
                    top, idx = scaled.max(dim=0)
                    best_idx = torch.where(top > kept_best, idx + start, best_idx)
                    kept_best = torch.maximum(kept_best, top)
                pred = query_idx[best_idx]
                top_prob = (kept_best - best).exp() / denom
        if self.prob_thd > 0:
            pred[top_prob < self.prob_thd] = 0
        return pred[None]

    def keeps_scores(self, ori_shape: Tuple[int, int]) -> bool:
        """Whether full-resolution scores are kept (``keep_scores``; None: when they fit ``max_score_bytes``)."""
        if self.keep_scores is not None:
            return bool(self.keep_scores)
        return len(flatten_names(self.classes)[0]) * ori_shape[0] * ori_shape[1] * 4 <= self.max_score_bytes

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, data_samples: Optional[List[SegDataSample]] = None
                ) -> List[SegDataSample]:
        """Segment a batch (B, 3, H, W) of preprocessed images; fills ``pred_sem_seg`` and, when kept, ``seg_logits``
        (class probabilities (C, H0, W0) at the original size)."""
        if data_samples is None:
            shape = tuple(inputs.shape[-2:])
            data_samples = [SegDataSample(metainfo=dict(ori_shape=shape, img_shape=shape, pad_shape=shape))
                            for _ in range(inputs.shape[0])]
        store = self.prediction_store()
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo
            img_h, img_w = meta.get('img_shape', inputs.shape[-2:])[:2]
            ori_shape = tuple(meta.get('ori_shape', (img_h, img_w))[:2])
            img_path = meta.get('img_path')
            pred = store.load(img_path, ori_shape) if store and img_path else None
            if pred is None:
                try:
                    pred = self._segment(inputs[i:i + 1, :, :img_h, :img_w], ori_shape, sample)  # no batch padding
                except Exception as exc:
                    raise SegmentationError(f'{img_path or f"image {i} of the batch"}: segmentation failed '
                                            f'({type(exc).__name__}: {exc})') from exc
                if store and img_path:
                    store.save(img_path, pred)
            sample.set_data(dict(pred_sem_seg=PixelData(data=pred.to(inputs.device))))
        return data_samples

    def _segment(self, image: torch.Tensor, ori_shape: Tuple[int, int], sample: SegDataSample) -> torch.Tensor:
        """Label map (1, H0, W0) of one image (1, 3, H, W); stores the class scores in ``sample`` when kept."""
        crops = self.encode_image(image)
        crops.guide = image
        if not self.keeps_scores(ori_shape):
            return self.labels_streaming(crops, ori_shape)
        probs, pred = self.scores_from_logits(self.decode_logits(crops, self.text_classifier()[0], ori_shape))
        sample.set_data(dict(seg_logits=PixelData(data=probs)))
        return pred

    def settings_fingerprint(self) -> str:
        """Everything that decides the predictions, as text (ties a prediction folder to these settings)."""
        names, _ = flatten_names(self.classes)
        resize = {k: getattr(self.data_preprocessor, k, None) for k in ("short_side", "max_long_side")}
        return json.dumps(dict(weights=self.clip.checkpoint_id, attention=repr(self.clip.final_attn),
                               vfm=repr(self.clip.vfm), dtype=str(self.clip.dtype), names=names,
                               classes=len(self.classes), templates=self.templates, test_cfg=self.test_cfg,
                               resize=resize, logit_scale=self.logit_scale, prob_thd=self.prob_thd,
                               area_thd=self.area_thd, pamr=[self.pamr_steps, list(self.pamr_dilations)]),
                          sort_keys=True, default=str)

    def prediction_store(self) -> Optional[PredictionStore]:
        if self.prediction_dir and self._store is None:
            self._store = PredictionStore(self.prediction_dir, self.settings_fingerprint())
        return self._store

    def _forward(self, inputs: torch.Tensor, data_samples=None) -> torch.Tensor:
        """Cosine logits (B, Q, H, W) at the input size (mmseg's 'tensor' mode)."""
        return self.encode_decode(inputs)

    def loss(self, inputs, data_samples):
        raise NotImplementedError('OVSegmentor is training-free: it has no loss. Use it for inference (predict).')
