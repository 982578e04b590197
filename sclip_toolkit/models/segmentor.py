"""The one registered segmentor: wiring of the parts that the config builds.

image -> ``region_generator`` (optional) -> ``inference`` (windows -> ``clip`` dense features) -> logits per name
(``text_encoder`` names, ``head``: cosine by default) -> logits-stage ``post_process`` steps -> softmax over names, max over each class's names ->
scores-stage steps -> labels (and scores).
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from ..exceptions import ConfigError, ToolkitError
from . import heads  # noqa: F401  (registers the classification heads)
from . import preprocessor  # noqa: F401  (registers OVSDataPreProcessor)
from .clip import CLIPBackbone
from .banding import row_bands
from .inference import CropFeatures, grid_logits
from .postprocess import BandedScores, DenseScores, StepContext, StreamedScores, StreamingUnsupported, build_steps
from .text_classifier import ClassEmbeddings, CLIPTextClassifier

# CLIP normalisation, no resize: configs set the references' short side (data_preprocessor.short_side).
DEFAULT_PREPROCESSOR = dict(type='OVSDataPreProcessor', short_side=None)


def label_dtype(num_classes: int) -> torch.dtype:
    """The smallest integer type that holds class indices 0 .. num_classes - 1."""
    return torch.uint8 if num_classes <= 256 else torch.int16 if num_classes <= 1 << 15 else torch.int32


class SegmentationError(ToolkitError, RuntimeError):
    """Segmenting one image failed; the message names the image."""


def _build(cfg, key: str):
    """Build the part ``model.<key>``; a bad value in its config becomes a ConfigError naming the key."""
    if not isinstance(cfg, dict):
        return cfg
    try:
        return MODELS.build(cfg)
    except ToolkitError:
        raise
    except (ValueError, KeyError) as exc:
        message = exc.args[0] if exc.args else exc
        raise ConfigError(f'model.{key}: {message}') from exc


@MODELS.register_module()
class OVSegmentor(BaseSegmentor):
    """Training-free open-vocabulary segmentor; the method is the choice of parts (see ``configs/_base_/methods``).

    Args:
        clip: config of :class:`CLIPBackbone` (weights, ``final_attn``, optional ``vfm``, precision).
        text_encoder: config of the text classifier (:class:`CLIPTextClassifier`: class names, templates, cache).
        inference: ``SlideInference`` or ``WholeInference`` config (windows, batching, padding).
        post_process: ordered steps (``PAMR``, ``AreaThreshold``, ``ProbThreshold``, ``Renormalize``, ...).
        logit_scale: temperature tau multiplying the cosine logits before the softmax over names.
        score_dtype: 'fp32' or 'model' (the encoder's dtype, fp16 on CUDA, as ClearCLIP and NACLIP) for the softmax.
        keep_scores: store full-resolution class scores in ``seg_logits`` (True), or only the label map, decoding
            names in chunks so memory stays bounded for large vocabularies (False); None: keep them when the
            (names x H x W) float32 scores fit in ``max_score_bytes``.
        max_score_bytes: memory for scores. Without kept scores, an image whose full-size running maximum does
            not fit either is labelled in row bands of this size (:meth:`banded_labels`; labels in the smallest
            integer type, no ``seg_logits``), when every step allows it (:meth:`can_band`).
        region_generator: optional config of a region-mask generator; its masks reach the attention variant and
            the post-processing steps.
        head: config of the classification head turning window features into name logits (``CosineHead``, the
            default; ``RFCLIPHead``); see ``models/heads.py``.
    """

    def __init__(self, clip: dict, text_encoder: Optional[dict] = None, inference: Optional[dict] = None,
                 post_process: Sequence[dict] = (), logit_scale: float = 40.0, score_dtype: str = 'fp32',
                 keep_scores: Optional[bool] = None, max_score_bytes: int = 1 << 28,
                 region_generator: Optional[dict] = None, data_preprocessor: Optional[dict] = None, init_cfg=None,
                 head: Optional[dict] = None):
        super().__init__(data_preprocessor=_build(data_preprocessor or DEFAULT_PREPROCESSOR, 'data_preprocessor'),
                         init_cfg=init_cfg)
        self.clip: CLIPBackbone = _build(clip, 'clip')
        self.text_encoder: CLIPTextClassifier = _build(text_encoder or dict(type='CLIPTextClassifier'),
                                                       'text_encoder')
        self.inference = _build(inference or dict(type='SlideInference'), 'inference')
        self.post_process = build_steps([_build(c, f'post_process[{i}]') for i, c in enumerate(post_process or [])])
        self.region_generator = _build(region_generator, 'region_generator') if region_generator else None
        self.head = _build(head or dict(type='CosineHead'), 'head')
        if score_dtype not in ('fp32', 'model'):
            raise ConfigError(f"model.score_dtype must be 'fp32' or 'model', got {score_dtype!r}")
        self.logit_scale, self.score_dtype = float(logit_scale), score_dtype
        self.keep_scores, self.max_score_bytes = keep_scores, int(max_score_bytes)

    @property
    def classes(self) -> List[List[str]]:
        return self.text_encoder.classes

    @property
    def num_classes(self) -> int:
        return len(self.text_encoder.classes)

    def set_vocabulary(self, class_names: Union[str, Sequence], **kwargs) -> None:
        self.text_encoder.set_vocabulary(class_names, **kwargs)

    def class_embeddings(self) -> ClassEmbeddings:
        """The current vocabulary's text side, cached per vocabulary and encoder."""
        return self.text_encoder(self.clip)

    # ------------------------------------------------------------------ logits
    def _steps(self, stage: str):
        return [s for s in self.post_process if s.stage == stage]

    def logits(self, crops: CropFeatures, text: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """Name logits (Q', H0, W0) for the names ``text`` (Q', E), after the logits-stage steps, in the score dtype."""
        logits = self.inference.decode(crops, text, ctx.ori_shape, head=self.head)
        for step in self._steps('logits'):
            logits = step(logits, ctx)
        return logits[0].to(torch.float32 if self.score_dtype == 'fp32' else self.clip.dtype)

    def scores(self, crops: CropFeatures, ctx: StepContext) -> DenseScores:
        """Class scores (C, H0, W0) after every step."""
        emb = self.class_embeddings()
        probs = (self.logit_scale * self.logits(crops, emb.names, ctx)).softmax(dim=0)
        scores = DenseScores(emb.reduce(probs))
        for step in self._steps('scores'):
            step(scores, ctx)
        return scores

    def streamed_scores(self, crops: CropFeatures, ctx: StepContext) -> StreamedScores:
        """The label path for large vocabularies: names are decoded in chunks, never all at once."""
        emb = self.class_embeddings()
        # about four float32 temporaries of (chunk, H0, W0) live at once (logits, scaled, exp, interpolation)
        chunk = max(1, self.max_score_bytes // (16 * ctx.ori_shape[0] * ctx.ori_shape[1]))

        def scaled_chunks():
            for start in range(0, emb.num_names, chunk):
                yield start, self.logit_scale * self.logits(crops, emb.names[start:start + chunk], ctx).float()

        def rescan(keep_name: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
            best = best_idx = None
            for start, scaled in scaled_chunks():
                scaled[~keep_name[start:start + scaled.shape[0]]] = -float('inf')
                top, idx = scaled.max(dim=0)
                best_idx = idx if best is None else torch.where(top > best, idx + start, best_idx)
                best = top if best is None else torch.maximum(best, top)
            return best, best_idx

        best = best_idx = denom = None
        for start, scaled in scaled_chunks():
            top, idx = scaled.max(dim=0)
            if best is None:
                best, best_idx, denom = top, idx, (scaled - top).exp().sum(dim=0)
                continue
            new_best = torch.maximum(best, top)
            denom = denom * (best - new_best).exp() + (scaled - new_best).exp().sum(dim=0)
            best_idx, best = torch.where(top > best, idx + start, best_idx), new_best
        scores = StreamedScores(best, best_idx, denom, emb.query_idx, emb.num_classes, rescan)
        for step in self._steps('scores'):
            step(scores, ctx)
        return scores

    # ------------------------------------------------------------------ large images
    def can_band(self) -> bool:
        """Whether labels can be computed in row bands: the inference exposes the map its last resize starts from,
        every logits-stage step says how many rows of context it needs, every scores-stage step is bandable."""
        from .inference import WindowInference
        source = getattr(type(self.inference), 'source', None)
        return (source is not None and source is not WindowInference.source
                and all(s.halo is not None for s in self._steps('logits'))
                and all(s.bandable for s in self._steps('scores')))

    def label_path(self, ori_shape: Tuple[int, int]) -> str:
        """'dense' (every class's scores kept), 'streamed' (names decoded in chunks, full-size running max) or
        'banded' (rows decoded in bands: nothing of full size but the labels), within ``max_score_bytes``."""
        if not self.keeps_scores(ori_shape):
            # best, index, denominator of every pixel, and what the logits-stage steps need over a whole map
            per_pixel = 16 + sum(s.full_bytes_per_pixel for s in self._steps('logits'))
            state_fits = ori_shape[0] * ori_shape[1] * per_pixel <= self.max_score_bytes
            return 'streamed' if state_fits or not self.can_band() else 'banded'
        if self.keep_scores is None and not self.can_stream() and self.can_band():
            fits = len(self.text_encoder.names) * ori_shape[0] * ori_shape[1] * 4 <= self.max_score_bytes
            return 'dense' if fits else 'banded'
        return 'dense'

    def dense_bytes(self, ori_shape: Tuple[int, int]) -> int:
        """About the peak of the dense path: four (names, H0, W0) float32 maps (logits, scaled, softmax, scores) and
        what the logits-stage steps need over the whole map."""
        per_pixel = 16 * len(self.text_encoder.names) + sum(s.full_bytes_per_pixel for s in self._steps('logits'))
        return ori_shape[0] * ori_shape[1] * per_pixel

    def band_rows(self, ori_shape: Tuple[int, int]) -> int:
        """Rows per band so that a band's temporaries (with its halo) stay within ``max_score_bytes``."""
        names, classes = len(self.text_encoder.names), self.num_classes
        halo = sum(s.halo for s in self._steps('logits'))
        # per pixel: logits, scaled, exp/softmax, float64 blend of the resize (2 x 8 bytes); class probs x 2;
        # the steps' own needs (PAMR: neighbour weights, and 3 copies of the logits it refines)
        per_pixel = names * (4 * 3 + 16) + classes * 8 + sum(s.band_bytes_per_pixel for s in self._steps('logits'))
        per_pixel += names * 12 * bool(halo)
        rows = self.max_score_bytes // max(1, per_pixel * ori_shape[1]) - 2 * halo
        return int(max(rows, 1 if not halo else min(halo, ori_shape[0])))

    def banded_labels(self, crops: CropFeatures, ctx: StepContext, meta: dict
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Label map (1, H0, W0) computed band by band at the original size, in the smallest integer type that holds
        the class count, and (C,) the sum of the labelled class's score over its pixels (float64)."""
        emb = self.class_embeddings()
        height, width = ctx.ori_shape
        source = self.inference.source(crops, emb.names, self.head)  # (1, Q, h, w): the map before the last resize
        steps = self._steps('logits')
        halo = sum(s.halo for s in steps)
        rows = self.band_rows(ctx.ori_shape)
        dtype = torch.float32 if self.score_dtype == 'fp32' else self.clip.dtype

        def bands():
            for r0, r1 in row_bands(height, rows):
                a, b = max(0, r0 - halo), min(height, r1 + halo)
                logits = self.inference.decode_rows(source, ctx.ori_shape, (a, b))
                band_ctx = dataclasses.replace(ctx, rows=(a, b))
                for step in steps:
                    logits = step(logits, band_ctx)
                logits = logits[0, :, r0 - a:r1 - a].to(dtype)
                probs = emb.reduce((self.logit_scale * logits).softmax(dim=0))
                del logits
                self._check_finite(probs, meta)
                yield (r0, r1), DenseScores(probs)

        scores = BandedScores(emb.num_classes, bands)
        for step in self._steps('scores'):
            step(scores, ctx)
        labels = torch.empty((height, width), dtype=label_dtype(emb.num_classes), device=source.device)
        sums = torch.zeros(emb.num_classes, dtype=torch.float64, device=source.device)
        for (r0, r1), band in scores.replayed():
            band_labels = band.labels()[0]
            labels[r0:r1] = band_labels
            chosen = band.probs.gather(0, band_labels[None])[0].double()
            sums += torch.bincount(band_labels.flatten(), weights=chosen.flatten(), minlength=emb.num_classes)
        return labels[None], sums

    def can_stream(self) -> bool:
        return (not self.head.needs_all_names and all(s.per_channel for s in self._steps('logits'))
                and all(s.streamable for s in self._steps('scores')))

    def keeps_scores(self, ori_shape: Tuple[int, int]) -> bool:
        """Whether full-resolution scores are kept (``keep_scores``; None: when they fit ``max_score_bytes``, or
        when a step cannot run on streamed scores)."""
        if self.keep_scores is not None:
            if not self.keep_scores and not self.can_stream():
                raise StreamingUnsupported(
                    f'keep_scores=False decodes names in chunks, but the head ({type(self.head).__name__}) or '
                    f'post_process {[type(s).__name__ for s in self.post_process]} needs every class at once')
            return bool(self.keep_scores)
        fits = len(self.text_encoder.names) * ori_shape[0] * ori_shape[1] * 4 <= self.max_score_bytes
        return fits or not self.can_stream()

    # ------------------------------------------------------------------ prediction
    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, data_samples: Optional[List[SegDataSample]] = None
                ) -> List[SegDataSample]:
        """Segment a batch (B, 3, H, W) of preprocessed images; fills ``pred_sem_seg`` and, when kept, ``seg_logits``
        (class probabilities (C, H0, W0) at the original size)."""
        if data_samples is None:
            shape = tuple(inputs.shape[-2:])
            data_samples = [SegDataSample(metainfo=dict(ori_shape=shape, img_shape=shape, pad_shape=shape))
                            for _ in range(inputs.shape[0])]
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo
            img_h, img_w = meta.get('img_shape', inputs.shape[-2:])[:2]
            where = meta.get('img_path') or f'image {i} of the batch'
            try:
                pred = self._segment(inputs[i:i + 1, :, :img_h, :img_w], meta, sample)  # no batch padding
            except ToolkitError as exc:
                raise SegmentationError(f'{where}: {exc}') from exc
            except Exception as exc:  # a bug: keep its type and traceback, and say which image it happened on
                if hasattr(exc, 'add_note'):
                    exc.add_note(f'while segmenting {where}')
                raise
            sample.set_data(dict(pred_sem_seg=PixelData(data=pred.to(inputs.device))))
        return data_samples

    def _segment(self, image: torch.Tensor, meta: dict, sample: SegDataSample) -> torch.Tensor:
        """Label map (1, H0, W0) of one image (1, 3, H, W); stores the class scores in ``sample`` when kept."""
        ori_shape = tuple(meta.get('ori_shape', image.shape[-2:])[:2])
        regions = self.region_generator(image, meta) if self.region_generator is not None else None
        text = self.class_embeddings() if self.clip.final_attn.recording(self.clip.num_blocks).text else None
        crops = self.inference.encode(self.clip, image, text=text, regions=regions)
        self.head.prepare(self.clip, image, crops)
        ctx = StepContext(image=image, ori_shape=ori_shape, regions=regions)
        path = self.label_path(ori_shape)
        if path == 'banded':
            labels, sums = self.banded_labels(crops, ctx, meta)
            sample.set_field(sums, 'label_score_sums')
            return labels
        if path == 'streamed':
            scores = self.streamed_scores(crops, ctx)
            self._check_finite(scores.best, meta)
            return scores.labels()
        scores = self.scores(crops, ctx)
        self._check_finite(scores.probs, meta)
        sample.set_data(dict(seg_logits=PixelData(data=scores.probs)))
        return scores.labels()

    def _check_finite(self, values: torch.Tensor, meta: dict) -> None:
        if not torch.isfinite(values).all():
            raise FloatingPointError(f'{type(self.clip.final_attn).__name__} gave NaN or inf scores for '
                                     f'{meta.get("img_path") or "this image"}; please report it with the image')

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: Optional[List[dict]] = None) -> torch.Tensor:
        """Cosine logits (B, Q, H, W) of images (B, 3, H, W) in one pass, upsampled bilinearly to the input size."""
        feats, grid = self.clip.encode_dense(inputs)
        return grid_logits(feats / feats.norm(dim=-1, keepdim=True), self.class_embeddings().names, grid,
                           inputs.shape[-2:])

    def extract_feat(self, inputs: torch.Tensor):
        return self.clip.encode_dense(inputs)

    def _forward(self, inputs: torch.Tensor, data_samples=None) -> torch.Tensor:
        """Cosine logits (B, Q, H, W) at the input size (mmseg's 'tensor' mode)."""
        return self.encode_decode(inputs)

    def loss(self, inputs, data_samples):
        raise NotImplementedError('OVSegmentor is training-free: it has no loss. Use it for inference (predict).')
