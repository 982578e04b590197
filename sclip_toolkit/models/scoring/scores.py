"""The three score maps the label paths make: dense (every class's probabilities), streamed (large vocabularies: a
running best name per pixel) and banded (large images: row bands, never all in memory)."""
from __future__ import annotations

from typing import Callable, Iterator, Optional, Tuple

import torch

from .base import ScoreMap, StreamingUnsupported, apply_votes, region_votes


class DenseScores(ScoreMap):
    """Every class's probabilities (C, H, W) in memory."""

    def __init__(self, probs: torch.Tensor):
        super().__init__(probs.shape[0])
        self.probs = probs
        self._cached: Optional[Tuple[torch.Tensor, torch.Tensor]] = None

    def _max(self) -> Tuple[torch.Tensor, torch.Tensor]:
        if self._cached is None:
            self._cached = self.probs.max(dim=0)
        return self._cached

    def argmax(self) -> torch.Tensor:
        return self._max()[1]

    def top(self) -> torch.Tensor:
        return self._max()[0]

    def drop_classes(self, drop: torch.Tensor) -> None:
        self.probs = self.probs.mul_((~drop).view(-1, 1, 1).to(self.probs.dtype))  # the map is this object's own
        self._cached = None

    def renormalize(self) -> None:
        self.probs = self.probs / self.probs.sum(dim=0, keepdim=True)
        self._cached = None


class StreamedScores(ScoreMap):
    """The label path without the scores: per pixel the best name, its scaled logit and the softmax denominator.

    The argmax of the softmax is the argmax of the logits, and the top probability is exp(best - max) / sum(exp(
    L - max)), so these give the dense path's labels and top scores exactly. Dropping classes re-scans the names
    (``rescan(keep_name)`` -> best scaled logit and name index among the kept names).

    Args:
        best: (H, W) the largest scaled logit over all names; best_idx: (H, W) its name; denom: (H, W)
            sum over names of exp(scaled logit - best).
        query_idx: (Q,) class of each name; num_classes: C.
    """

    def __init__(self, best: torch.Tensor, best_idx: torch.Tensor, denom: torch.Tensor, query_idx: torch.Tensor,
                 num_classes: int, rescan: Callable[[torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]):
        super().__init__(num_classes)
        self.best, self.denom, self.query_idx, self.rescan = best, denom, query_idx, rescan
        self.kept_best, self.kept_idx = best, best_idx
        self.dropped = torch.zeros(num_classes, dtype=torch.bool, device=query_idx.device)
        self.normalized = False

    def argmax(self) -> torch.Tensor:
        return self.query_idx[self.kept_idx]  # renormalising changes no argmax

    def top(self) -> torch.Tensor:
        if self.normalized:
            raise StreamingUnsupported('the scores were renormalised, and the streamed path keeps no per-class sums; '
                                       'put Renormalize after the steps that read scores')
        top = self.kept_best - self.best  # in place from here: one (H, W) temporary at full resolution
        return top.exp_().div_(self.denom)

    def drop_classes(self, drop: torch.Tensor) -> None:
        drop = drop.to(self.dropped.device)
        if not (drop & ~self.dropped).any():
            return
        self.dropped |= drop
        self.kept_best, self.kept_idx = self.rescan(~self.dropped[self.query_idx])

    def renormalize(self) -> None:
        self.normalized = True  # changes no label; a later read of the scores is refused


class BandedScores(ScoreMap):
    """The class scores of a large image as a series of row bands, never all in memory (the large-image path).

    Steps see one map: per-pixel operations (dropping classes, background below a threshold, renormalising) are
    recorded and replayed on each band when it is computed; :meth:`class_counts` makes a pass over every band.
    ``argmax``/``top`` of the whole map are refused: a step that needs them sets ``bandable = False``.

    Args:
        num_classes: C.
        bands: a callable yielding ((r0, r1), ScoreMap of those rows) for every band, recomputed on each call.
    """

    def __init__(self, num_classes: int, bands: Callable[[], Iterator[Tuple[Tuple[int, int], ScoreMap]]]):
        super().__init__(num_classes)
        self.bands, self.ops = bands, []

    def drop_classes(self, drop: torch.Tensor) -> None:
        self.ops.append(('drop_classes', drop.clone()))

    def renormalize(self) -> None:
        self.ops.append(('renormalize',))

    def background_below(self, threshold: float) -> None:
        self.ops.append(('background_below', threshold))

    def set_background(self, where: torch.Tensor) -> None:
        self.ops.append(('set_background', where))

    def vote_in_regions(self, ids: torch.Tensor) -> None:
        """:meth:`ScoreMap.vote_in_regions` with one pass over every band to count the votes (memory: the band and
        one count per region and class), replayed on each band."""
        step = 256  # rows of ids at a time: the region ids are found without a full-size temporary
        values = torch.unique(torch.cat([torch.unique(ids[r:r + step]) for r in range(0, ids.shape[0], step)]))
        votes = torch.zeros((len(values), self.num_classes), dtype=torch.long, device=ids.device)
        for (r0, r1), band in self.replayed():
            labels = band.labels()[0].to(ids.device)
            votes += region_votes(torch.searchsorted(values, ids[r0:r1]), labels, len(values), self.num_classes)
        self.ops.append(('vote', ids, values, votes))

    def replay(self, band: ScoreMap, rows: Tuple[int, int]) -> ScoreMap:
        """Apply the recorded operations to the map of rows ``rows``; returns it."""
        for name, *args in self.ops:
            if name == 'set_background':
                band.set_background(args[0][rows[0]:rows[1]])
            elif name == 'vote':
                ids, values, votes = args
                labels = band.labels()[0]
                index = torch.searchsorted(values, ids[rows[0]:rows[1]]).to(labels.device)
                band.set_labels(apply_votes(index, labels, votes.to(labels.device)))
            else:
                getattr(band, name)(*args)
        return band

    def replayed(self) -> Iterator[Tuple[Tuple[int, int], ScoreMap]]:
        for rows, band in self.bands():
            yield rows, self.replay(band, rows)

    def class_counts(self) -> torch.Tensor:
        counts = torch.zeros(self.num_classes, dtype=torch.long)
        for _, band in self.replayed():
            counts += band.class_counts().cpu()
        return counts

    def argmax(self) -> torch.Tensor:
        raise StreamingUnsupported('a step read the whole score map on the large-image path; give it bandable = '
                                   'False, or use ScoreMap.class_counts / background_below')

    top = argmax
