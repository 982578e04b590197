"""Score maps (models/scoring/scores.py): the large-image banded map gives the dense map's labels, region votes
included."""
from __future__ import annotations

import pytest
import torch

from sclip_toolkit.models.postprocess import region_vote
from sclip_toolkit.models.scoring.scores import BandedScores, DenseScores


def _banded(probs: torch.Tensor, rows: int) -> BandedScores:
    def bands():
        for r0 in range(0, probs.shape[1], rows):
            r1 = min(probs.shape[1], r0 + rows)
            yield (r0, r1), DenseScores(probs[:, r0:r1].clone())
    return BandedScores(probs.shape[0], bands)


def _ids(h: int, w: int, seed: int) -> torch.Tensor:
    """Blocks of ids with "unsegmented" (0) cells and one id used in two places apart."""
    g = torch.Generator().manual_seed(seed)
    cells = torch.randint(0, 6, (h // 8 + 1, w // 8 + 1), generator=g) * 3
    return cells.repeat_interleave(8, 0).repeat_interleave(8, 1)[:h, :w]


@pytest.mark.parametrize('rows', [1, 7, 40, 100])
@pytest.mark.parametrize('seed', [0, 1])
def test_banded_region_vote_equals_the_dense_vote(rows, seed):
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(4, 45, 61, generator=g).softmax(dim=0)
    probs[:, :10] = 0.25  # a tie in every pixel of some rows: the smallest class wins
    ids = _ids(45, 61, seed)
    dense, banded = DenseScores(probs.clone()), _banded(probs, rows)
    for scores in (dense, banded):
        scores.background_below(0.26)
        scores.vote_in_regions(ids)
    want = dense.labels()[0]
    got = torch.cat([band.labels()[0] for _, band in banded.replayed()])
    assert torch.equal(got, want)
    before = DenseScores(probs.clone())
    before.background_below(0.26)
    assert torch.equal(want, region_vote(before.labels()[0], ids, 4))  # the public function, unchanged
    assert (want != before.labels()[0]).any()  # the vote changed labels
