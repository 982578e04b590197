"""The label paths: window features -> logits -> class scores -> labels, within a memory bound.

* dense: every class's scores at the original size (:class:`~sclip_toolkit.models.scoring.DenseScores`);
* streamed: names are decoded in chunks, keeping a running best name, its logit and the softmax denominator per
  pixel (:class:`~sclip_toolkit.models.scoring.StreamedScores`);
* banded: rows of the original size are decoded in bands from the map before the last resize, with the steps' halo
  (:class:`~sclip_toolkit.models.scoring.BandedScores`); nothing of full size but the labels.

The segmentor holds a :class:`LabelPaths` (``model.scoring``: its settings ``logit_scale``, ``score_dtype``,
``keep_scores``, ``max_score_bytes``) and passes it the parts it reads, as :class:`ScoringParts`.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Optional, Tuple

import torch

from ...exceptions import ConfigError
from ..postprocess.base import StepContext
from .banding import SourceBlocks, row_bands
from .base import ScoringParts, StreamingUnsupported, label_dtype
from .scores import BandedScores, DenseScores, StreamedScores
from ..stages import staged

if TYPE_CHECKING:  # the inference package imports banding from here
    from ..inference import CropFeatures


class LabelPaths:
    """Choosing between the dense, streamed and banded label paths, and each path.

    Args:
        logit_scale / score_dtype / keep_scores / max_score_bytes: see
            :class:`~sclip_toolkit.models.segmentor.OVSegmentor`.
    """

    def __init__(self, logit_scale: float = 40.0, score_dtype: str = 'fp32', keep_scores: Optional[bool] = None,
                 max_score_bytes: int = 1 << 28):
        if score_dtype not in ('fp32', 'model'):
            raise ConfigError(f"model.score_dtype must be 'fp32' or 'model', got {score_dtype!r}")
        self.logit_scale, self.score_dtype = float(logit_scale), score_dtype
        self.keep_scores, self.max_score_bytes = keep_scores, int(max_score_bytes)

    def dtype(self, parts: ScoringParts) -> torch.dtype:
        """The dtype of the logits the softmax takes."""
        return torch.float32 if self.score_dtype == 'fp32' else parts.output_dtype

    # ------------------------------------------------------------------ the dense path
    @staged('scoring.logits')
    def logits(self, parts: ScoringParts, crops: CropFeatures, text: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """Name logits (Q', H0, W0) for the names ``text`` (Q', E), after the logits-stage steps, in the score dtype."""
        logits = parts.inference.decode(crops, text, ctx.ori_shape, head=parts.head, max_bytes=self.max_score_bytes)
        for step in parts.stage('logits'):
            logits = step(logits, ctx)
        return logits[0].to(self.dtype(parts))

    @staged('scoring.scores')
    def scores(self, parts: ScoringParts, crops: CropFeatures, ctx: StepContext) -> DenseScores:
        """Class scores (C, H0, W0) after every step."""
        emb = parts.class_embeddings()
        # scaled in place: the logits are this call's own, and a fresh (Q', H0, W0) map costs more than the product
        probs = self.logits(parts, crops, emb.names, ctx).mul_(self.logit_scale).softmax(dim=0)
        scores = DenseScores(emb.reduce(probs))
        for step in parts.stage('scores'):
            step(scores, ctx)
        return scores

    @staged('scoring.check_finite')
    def check_finite(self, parts: ScoringParts, values: torch.Tensor, meta: dict) -> None:
        """Raise FloatingPointError when ``values`` hold NaN or inf (a bug of the method, not of the input)."""
        low, high = values.aminmax()  # NaN propagates; one pass, no (C, H, W) mask as isfinite() makes
        if not (torch.isfinite(low) and torch.isfinite(high)):
            raise FloatingPointError(f'{parts.attention} gave NaN or inf scores for '
                                     f'{meta.get("img_path") or "this image"}; please report it with the image')

    # ------------------------------------------------------------------ the streamed path
    def streamed_scores(self, parts: ScoringParts, crops: CropFeatures, ctx: StepContext) -> StreamedScores:
        """The label path for large vocabularies: names are decoded in chunks, never all at once."""
        emb = parts.class_embeddings()
        # about four float32 temporaries of (chunk, H0, W0) live at once (logits, scaled, exp, interpolation), and
        # the map before the last resize (its sum and average), larger than that when the input was upscaled
        height, width = parts.inference.source_size(crops)
        chunk = max(1, self.max_score_bytes // (16 * max(ctx.ori_shape[0] * ctx.ori_shape[1], height * width)))

        def scaled_chunks():
            for start in range(0, emb.num_names, chunk):
                yield start, self.logit_scale * self.logits(parts, crops, emb.names[start:start + chunk], ctx).float()

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
        for step in parts.stage('scores'):
            step(scores, ctx)
        return scores

    # ------------------------------------------------------------------ choosing a path
    def can_band(self, parts: ScoringParts) -> bool:
        """Whether labels can be computed in row bands: the inference exposes the map its last resize starts from,
        every logits-stage step says how many rows of context it needs, every scores-stage step is bandable."""
        from ..inference import WindowInference
        source = getattr(type(parts.inference), 'source', None)
        return (source is not None and source is not WindowInference.source
                and all(s.halo is not None for s in parts.stage('logits'))
                and all(s.bandable for s in parts.stage('scores')))

    def label_path(self, parts: ScoringParts, ori_shape: Tuple[int, int]) -> str:
        """'dense' (every class's scores kept), 'streamed' (names decoded in chunks, full-size running max) or
        'banded' (rows decoded in bands: nothing of full size but the labels), within ``max_score_bytes``."""
        if not self.keeps_scores(parts, ori_shape):
            # best, index, denominator of every pixel, and what the logits-stage steps need over a whole map
            per_pixel = 16 + sum(s.full_bytes_per_pixel for s in parts.stage('logits'))
            state_fits = ori_shape[0] * ori_shape[1] * per_pixel <= self.max_score_bytes
            return 'streamed' if state_fits or not self.can_band(parts) else 'banded'
        if self.keep_scores is None and not self.can_stream(parts) and self.can_band(parts):
            fits = len(parts.names) * ori_shape[0] * ori_shape[1] * 4 <= self.max_score_bytes
            return 'dense' if fits else 'banded'
        return 'dense'

    def dense_bytes(self, parts: ScoringParts, ori_shape: Tuple[int, int]) -> int:
        """About the peak of the dense path: four (names, H0, W0) float32 maps (logits, scaled, softmax, scores) and
        what the logits-stage steps need over the whole map."""
        per_pixel = 16 * len(parts.names) + sum(s.full_bytes_per_pixel for s in parts.stage('logits'))
        return ori_shape[0] * ori_shape[1] * per_pixel

    # ------------------------------------------------------------------ the banded path
    def band_plan(self, parts: ScoringParts, ori_shape: Tuple[int, int]) -> Tuple[int, int]:
        """(rows per band, names per chunk) so that a band's temporaries stay within ``max_score_bytes``.

        Per pixel of a band: every name's logits, scaled logits and softmax and the class probabilities (twice);
        per pixel of the band with its halo (the logits-stage steps' context, e.g. PAMR's) and per name of a chunk:
        the resize's float64 blend, the logits and the step's copies of them, plus the steps' own per-pixel needs.
        Without a halo a band is decoded for all names at once; with one, and when bands of at least ``halo`` rows
        of every name do not fit, per-channel steps run on chunks of names, so the halo is paid per chunk and not
        for every name at once.
        """
        names, classes = len(parts.names), parts.num_classes
        height, width = ori_shape
        steps = parts.stage('logits')
        halo = sum(s.halo for s in steps)
        fixed = sum(s.band_bytes_per_pixel for s in steps)
        budget = self.max_score_bytes // max(1, width)  # bytes per column
        out_pp, in_pp = names * 16 + classes * 8, 12 + 16 + 12 * bool(halo)

        def rows_for(chunk: int) -> int:
            return (budget - 2 * halo * (chunk * in_pp + fixed)) // (out_pp + chunk * in_pp + fixed)

        rows = rows_for(names)
        whole = int(min(height, max(rows, 1 if not halo else min(halo, height)))), names
        if rows >= min(halo, height) or not halo or not all(s.per_channel for s in steps):
            return whole
        # at most half the budget for every name's output rows (fewer where one name's halo needs more), the rest
        # for chunks of names over the rows and the halo
        rows = int(min(height, halo, budget // 2 // out_pp, rows_for(1)))
        chunk = (budget - rows * out_pp - (rows + 2 * halo) * fixed) // max(1, (rows + 2 * halo) * in_pp)
        if rows < 1 or chunk < 1:  # the bound is below what one row and one name need: keep the fewest passes
            return whole
        return rows, int(min(names, chunk))

    def banded_labels(self, parts: ScoringParts, crops: CropFeatures, ctx: StepContext, meta: dict
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Label map (1, H0, W0) computed band by band at the original size, in the smallest integer type that holds
        the class count, and (C,) the sum of the labelled class's score over its pixels (float64).

        The map before the last resize (the inference's ``source``) is decoded in blocks of rows too, so a large
        vocabulary on a wide input never holds it whole: within ``max_score_bytes`` for the block, the same again
        for the window logits it is summed from, and for a band's temporaries.
        """
        emb = parts.class_embeddings()
        height, width = ctx.ori_shape
        steps = parts.stage('logits')
        halo = sum(s.halo for s in steps)
        rows, chunk = self.band_plan(parts, ctx.ori_shape)
        dtype = self.dtype(parts)
        source = SourceBlocks(parts, self.max_score_bytes, crops, emb.names, height)

        def band_logits(r0: int, r1: int) -> torch.Tensor:
            """(Q, r1 - r0, W0) logits after the logits-stage steps, decoded with their halo a chunk of names at a
            time."""
            a, b = max(0, r0 - halo), min(height, r1 + halo)
            block, offset = source.covering(a, b)  # kept by ``source`` for the next bands
            band_ctx = dataclasses.replace(ctx, rows=(a, b))
            out = None
            for n0 in range(0, block.shape[1], chunk):
                logits = parts.inference.decode_rows(block[:, n0:n0 + chunk], ctx.ori_shape, (a, b), offset,
                                                    source.height)
                for step in steps:
                    logits = step(logits, band_ctx)
                logits = logits[0, :, r0 - a:r1 - a].to(dtype)
                if chunk >= block.shape[1]:
                    return logits
                if out is None:
                    out = logits.new_empty((block.shape[1],) + logits.shape[1:])
                out[n0:n0 + chunk] = logits
            return out

        def bands():
            for r0, r1 in row_bands(height, rows):
                logits = band_logits(r0, r1)
                probs = emb.reduce((self.logit_scale * logits).softmax(dim=0))
                del logits
                self.check_finite(parts, probs, meta)
                yield (r0, r1), DenseScores(probs)

        scores = BandedScores(emb.num_classes, bands)
        for step in parts.stage('scores'):
            step(scores, ctx)
        device = crops.feats.device
        labels = torch.empty((height, width), dtype=label_dtype(emb.num_classes), device=device)
        sums = torch.zeros(emb.num_classes, dtype=torch.float64, device=device)
        for (r0, r1), band in scores.replayed():
            band_labels = band.labels()[0]
            labels[r0:r1] = band_labels
            chosen = band.probs.gather(0, band_labels[None])[0].double()
            sums += torch.bincount(band_labels.flatten(), weights=chosen.flatten(), minlength=emb.num_classes)
        return labels[None], sums

    def can_stream(self, parts: ScoringParts) -> bool:
        """Whether names can be decoded in chunks: the head and every step allow it."""
        return (not parts.head.needs_all_names and all(s.per_channel for s in parts.stage('logits'))
                and all(s.streamable for s in parts.stage('scores')))

    def keeps_scores(self, parts: ScoringParts, ori_shape: Tuple[int, int]) -> bool:
        """Whether full-resolution scores are kept (``keep_scores``; None: when they fit ``max_score_bytes``, or
        when a step cannot run on streamed scores)."""
        if self.keep_scores is not None:
            if not self.keep_scores and not self.can_stream(parts):
                raise StreamingUnsupported(
                    f'keep_scores=False decodes names in chunks, but the head ({type(parts.head).__name__}) or '
                    f'post_process {[type(s).__name__ for s in parts.steps]} needs every class at once')
            return bool(self.keep_scores)
        fits = len(parts.names) * ori_shape[0] * ori_shape[1] * 4 <= self.max_score_bytes
        return fits or not self.can_stream(parts)

    def keep_scores_within(self, parts: ScoringParts, ori_shape: Tuple[int, int], max_bytes: int,
                           want: Optional[bool] = None) -> Optional[bool]:
        """The ``keep_scores`` setting for one image whose scores should fit ``max_bytes`` (the API's decision).

        Args:
            want: True / False: the caller asks for the scores or not; None: keep them when the dense path (the
                logits-stage steps' needs included, :meth:`dense_bytes`) fits ``max_bytes``.
        Returns:
            True or False; None when scores are not wanted but no label-only path suits the head and steps (they
            are then computed and dropped).
        """
        keep = want
        if keep is None:
            keep = self.dense_bytes(parts, ori_shape) <= max_bytes
        if not keep and not (self.can_stream(parts) or self.can_band(parts)):
            return None
        return keep
