"""The segmentor's label paths beyond the dense one, for images or vocabularies whose scores do not fit in memory.

* streamed: names are decoded in chunks, keeping a running best name, its logit and the softmax denominator per
  pixel (:class:`~sclip_toolkit.models.postprocess.StreamedScores`);
* banded: rows of the original size are decoded in bands from the map before the last resize, with the steps' halo
  (:class:`~sclip_toolkit.models.postprocess.BandedScores`); nothing of full size but the labels.

:class:`LabelPaths` is mixed into :class:`~sclip_toolkit.models.segmentor.OVSegmentor`; it uses the segmentor's parts
(``inference``, ``head``, ``post_process``, ``text_encoder``) and settings (``logit_scale``, ``score_dtype``,
``keep_scores``, ``max_score_bytes``).
"""
from __future__ import annotations

import dataclasses
from typing import Tuple

import torch

from .banding import row_bands
from .inference import CropFeatures
from .postprocess import BandedScores, DenseScores, StepContext, StreamedScores, StreamingUnsupported


def label_dtype(num_classes: int) -> torch.dtype:
    """The smallest integer type that holds class indices 0 .. num_classes - 1."""
    return torch.uint8 if num_classes <= 256 else torch.int16 if num_classes <= 1 << 15 else torch.int32


class LabelPaths:
    """Choosing between the dense, streamed and banded label paths, and the latter two."""

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
        dtype = torch.float32 if self.score_dtype == 'fp32' else self.clip.output_dtype

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
