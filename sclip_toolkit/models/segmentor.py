"""The one registered segmentor: wiring of the parts that the config builds.

image -> ``region_generator`` (optional) -> ``inference`` (windows -> ``clip`` dense features) -> logits per name
(``text_encoder`` names, ``head``: cosine by default) -> logits-stage ``post_process`` steps -> softmax over names,
max over each class's names -> scores-stage steps -> labels (and scores), on the dense path or, when the scores do
not fit, on the streamed or banded path (``label_paths.py``).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from ..exceptions import ConfigError, ToolkitError
from . import heads  # noqa: F401  (registers the classification heads)
from . import preprocessor  # noqa: F401  (registers OVSDataPreProcessor)
from .clip import CLIPBackbone
from .inference import CropFeatures, grid_logits
from .label_paths import LabelPaths
from .postprocess import DenseScores, StepContext, build_steps
from .text_classifier import ClassEmbeddings, CLIPTextClassifier

# CLIP normalisation, no resize: configs set the references' short side (data_preprocessor.short_side).
DEFAULT_PREPROCESSOR = dict(type='OVSDataPreProcessor', short_side=None)


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
class OVSegmentor(LabelPaths, BaseSegmentor):
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
        if any(getattr(s, 'needs_sam_embedding', False) for s in self.post_process):  # Trident's SAM refinement
            if not hasattr(getattr(self.inference, 'affinity', None), 'embedding'):
                raise ConfigError('model.post_process: SAMRefinement needs SAM\'s image embedding, which only '
                                  "model.inference=dict(type='SplicedInference', ...) computes")
            self.inference.affinity.embedding = True
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
        logits = self.inference.decode(crops, text, ctx.ori_shape, head=self.head, max_bytes=self.max_score_bytes)
        for step in self._steps('logits'):
            logits = step(logits, ctx)
        return logits[0].to(torch.float32 if self.score_dtype == 'fp32' else self.clip.output_dtype)

    def scores(self, crops: CropFeatures, ctx: StepContext) -> DenseScores:
        """Class scores (C, H0, W0) after every step."""
        emb = self.class_embeddings()
        # scaled in place: the logits are this call's own, and a fresh (Q', H0, W0) map costs more than the product
        probs = self.logits(crops, emb.names, ctx).mul_(self.logit_scale).softmax(dim=0)
        scores = DenseScores(emb.reduce(probs))
        for step in self._steps('scores'):
            step(scores, ctx)
        return scores

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
        more = dict(meta=meta) if getattr(self.inference, 'wants_meta', False) else {}  # Trident's SAM reads the file
        crops = self.inference.encode(self.clip, image, text=text, regions=regions, **more)
        self.head.prepare(self.clip, image, crops)
        ctx = StepContext(image=image, ori_shape=ori_shape, regions=regions, features=crops)
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
        low, high = values.aminmax()  # NaN propagates; one pass, no (C, H, W) mask as isfinite() makes
        if not (torch.isfinite(low) and torch.isfinite(high)):
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
