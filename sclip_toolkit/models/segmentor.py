"""The one registered segmentor: wiring of the parts that the config builds.

image -> ``region_generator`` (optional) -> ``inference`` (windows -> ``clip`` dense features) -> logits per name
(``text_encoder`` names, ``head``: cosine by default) -> logits-stage ``post_process`` steps -> softmax over names,
max over each class's names -> scores-stage steps -> labels (and scores), on the dense path or, when the scores do
not fit, on the streamed or banded path: the segmentor's ``scoring`` (``models/scoring/``), given the parts it reads.
"""
from __future__ import annotations

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
from .inference import CropFeatures, grid_logits
from .postprocess import StepContext, build_steps
from .scoring import DenseScores, LabelPaths, ScoringParts
from .stages import stage, staged
from .text import ClassEmbeddings, CLIPTextClassifier

# CLIP normalisation, no resize: configs set the references' short side (data_preprocessor.short_side).
DEFAULT_PREPROCESSOR = dict(type='OVSDataPreProcessor', short_side=None)
# The parts a config may leave out.
DEFAULT_INFERENCE = dict(type='SlideInference')
DEFAULT_TEXT_ENCODER = dict(type='CLIPTextClassifier')
DEFAULT_HEAD = dict(type='CosineHead')


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
            not fit either is labelled in row bands of this size (labels in the smallest integer type, no
            ``seg_logits``), when every step allows it (:class:`~sclip_toolkit.models.scoring.LabelPaths`).
        region_generator: optional config of a region-mask generator; its masks reach the attention variant and
            the post-processing steps.
        head: config of the classification head turning window features into name logits (``CosineHead``, the
            default; ``RFCLIPHead``); see ``models/heads/``.
    """

    def __init__(self, clip: dict, text_encoder: Optional[dict] = None, inference: Optional[dict] = None,
                 post_process: Sequence[dict] = (), logit_scale: float = 40.0, score_dtype: str = 'fp32',
                 keep_scores: Optional[bool] = None, max_score_bytes: int = 1 << 28,
                 region_generator: Optional[dict] = None, data_preprocessor: Optional[dict] = None, init_cfg=None,
                 head: Optional[dict] = None):
        super().__init__(data_preprocessor=_build(data_preprocessor or DEFAULT_PREPROCESSOR, 'data_preprocessor'),
                         init_cfg=init_cfg)
        self.clip: CLIPBackbone = _build(clip, 'clip')
        self.text_encoder: CLIPTextClassifier = _build(text_encoder or DEFAULT_TEXT_ENCODER,
                                                       'text_encoder')
        self.inference = _build(inference or DEFAULT_INFERENCE, 'inference')
        self.post_process = build_steps([_build(c, f'post_process[{i}]') for i, c in enumerate(post_process or [])])
        self.region_generator = _build(region_generator, 'region_generator') if region_generator else None
        self.head = _build(head or DEFAULT_HEAD, 'head')
        self.scoring = LabelPaths(logit_scale, score_dtype, keep_scores, max_score_bytes)

    # the scoring settings, read and set as the segmentor's own (configs and the API name them model.<key>)
    logit_scale = property(lambda self: self.scoring.logit_scale,
                           lambda self, value: setattr(self.scoring, 'logit_scale', value))
    score_dtype = property(lambda self: self.scoring.score_dtype,
                           lambda self, value: setattr(self.scoring, 'score_dtype', value))
    keep_scores = property(lambda self: self.scoring.keep_scores,
                           lambda self, value: setattr(self.scoring, 'keep_scores', value))
    max_score_bytes = property(lambda self: self.scoring.max_score_bytes,
                               lambda self, value: setattr(self.scoring, 'max_score_bytes', value))

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

    # ------------------------------------------------------------------ scoring
    def scoring_parts(self) -> ScoringParts:
        """The parts the label paths read: inference, head, steps, vocabulary, the encoder's output dtype."""
        return ScoringParts(self.inference, self.head, self.post_process, self.text_encoder.names,
                            len(self.text_encoder.classes), self.class_embeddings, self.clip.output_dtype,
                            type(self.clip.final_attn).__name__)

    def logits(self, crops: CropFeatures, text: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """Name logits (Q', H0, W0) for the names ``text`` (Q', E), after the logits-stage steps, in the score dtype."""
        return self.scoring.logits(self.scoring_parts(), crops, text, ctx)

    def scores(self, crops: CropFeatures, ctx: StepContext) -> DenseScores:
        """Class scores (C, H0, W0) after every step (the dense path)."""
        return self.scoring.scores(self.scoring_parts(), crops, ctx)

    def label_path(self, ori_shape: Tuple[int, int]) -> str:
        """'dense', 'streamed' or 'banded': the label path for an image of this original size."""
        return self.scoring.label_path(self.scoring_parts(), ori_shape)

    def can_stream(self) -> bool:
        """Whether names can be decoded in chunks (the head and every step allow it)."""
        return self.scoring.can_stream(self.scoring_parts())

    def can_band(self) -> bool:
        """Whether labels can be computed in row bands (the inference and every step allow it)."""
        return self.scoring.can_band(self.scoring_parts())

    def keeps_scores(self, ori_shape: Tuple[int, int]) -> bool:
        """Whether full-resolution scores are kept for an image of this original size."""
        return self.scoring.keeps_scores(self.scoring_parts(), ori_shape)

    def dense_bytes(self, ori_shape: Tuple[int, int]) -> int:
        """About the peak memory of the dense path for an image of this original size."""
        return self.scoring.dense_bytes(self.scoring_parts(), ori_shape)

    def band_plan(self, ori_shape: Tuple[int, int]) -> Tuple[int, int]:
        """(rows per band, names per chunk) of the banded path for an image of this original size."""
        return self.scoring.band_plan(self.scoring_parts(), ori_shape)

    def band_rows(self, ori_shape: Tuple[int, int]) -> int:
        """Rows per band (see :meth:`band_plan`)."""
        return self.band_plan(ori_shape)[0]

    # ------------------------------------------------------------------ prediction
    @torch.no_grad()
    @staged('segmentor.predict')
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
        with stage('inference.encode', self.inference):
            crops = self.inference.encode(self.clip, image, text=text, regions=regions)
        with stage('head.prepare', self.head):
            self.head.prepare(self.clip, image, crops)
        ctx = StepContext(image=image, ori_shape=ori_shape, regions=regions)
        path = self.label_path(ori_shape)
        parts = self.scoring_parts()
        if path == 'banded':
            labels, sums = self.scoring.banded_labels(parts, crops, ctx, meta)
            sample.set_field(sums, 'label_score_sums')
            return labels
        if path == 'streamed':
            scores = self.scoring.streamed_scores(parts, crops, ctx)
            self.scoring.check_finite(parts, scores.best, meta)
            return scores.labels()
        scores = self.scoring.scores(parts, crops, ctx)
        self.scoring.check_finite(parts, scores.probs, meta)
        sample.set_data(dict(seg_logits=PixelData(data=scores.probs)))
        return scores.labels()

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
