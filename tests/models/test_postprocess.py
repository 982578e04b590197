"""PAMR, the query->class reduction, the score-stage steps on dense and streamed scores, window geometry."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sclip_toolkit.models.inference import slide_windows
from sclip_toolkit.models.postprocess import (AreaThreshold, ProbThreshold, Renormalize, StepContext, build_steps,
                                              pamr, pamr_affinity)
from sclip_toolkit.models.postprocess.pamr import _replicate_border
from sclip_toolkit.models.scoring import DenseScores, StreamedScores, StreamingUnsupported
from sclip_toolkit.models.text import ClassEmbeddings

CTX = StepContext(image=torch.zeros(1, 3, 1, 1), ori_shape=(1, 1))


def reduce_to_classes(probs, query_idx, num_classes):
    return ClassEmbeddings(torch.zeros(len(query_idx), 1), query_idx, num_classes).reduce(probs)


def apply_area_threshold(probs, threshold):
    scores = DenseScores(probs)
    AreaThreshold(threshold)(scores, CTX)
    return scores.probs


def probs_to_prediction(probs, threshold):
    scores = DenseScores(probs)
    ProbThreshold(threshold)(scores, CTX)
    return scores.labels()


def pamr_numpy(image, mask, steps, dilations):
    """PAMR written pixel by pixel with numpy (replicate borders), independent of the torch version."""
    C, H, W = image.shape
    pad = max(dilations)
    img = np.pad(image, ((0, 0), (pad, pad), (pad, pad)), mode='edge')
    offs = [(dy * d, dx * d) for d in dilations for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    nbrs = [(dy * d, dx * d) for d in dilations for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    weights = np.zeros((len(nbrs), H, W))
    for y in range(H):
        for x in range(W):
            logit = np.zeros(len(nbrs))
            for k in range(C):
                vals = np.array([img[k, y + pad + oy, x + pad + ox] for oy, ox in offs])
                sigma = vals.std(ddof=1)
                centre = img[k, y + pad, x + pad]
                diffs = np.array([abs(centre - img[k, y + pad + oy, x + pad + ox]) for oy, ox in nbrs])
                logit += -diffs / (1e-8 + 0.1 * sigma) / C
            e = np.exp(logit - logit.max())
            weights[:, y, x] = e / e.sum()
    m = mask.copy()
    for _ in range(steps):
        mp = np.pad(m, ((0, 0), (pad, pad), (pad, pad)), mode='edge')
        new = np.zeros_like(m)
        for i, (oy, ox) in enumerate(nbrs):
            new += weights[i][None] * mp[:, pad + oy:pad + oy + H, pad + ox:pad + ox + W]
        m = new
    return m


def test_pamr_matches_pixel_loop():
    rng = np.random.RandomState(0)
    image = rng.randn(3, 9, 11)
    mask = rng.rand(4, 9, 11)
    got = pamr(torch.tensor(image[None]).float(), torch.tensor(mask[None]).float(), steps=3, dilations=(1, 2))
    want = pamr_numpy(image, mask, 3, (1, 2))
    np.testing.assert_allclose(got[0].numpy(), want, atol=1e-5)


def test_pamr_chunked_equals_unchunked():
    torch.manual_seed(0)
    image, mask = torch.randn(1, 3, 20, 24), torch.rand(1, 7, 20, 24)
    full = pamr(image, mask, steps=4, dilations=(2, 4))
    chunked = pamr(image, mask, steps=4, dilations=(2, 4), chunk=3)
    torch.testing.assert_close(full, chunked)


def pamr_plain_torch(image, masks, steps, dilations):
    """PAMR as it was first written here: a replicate pad per neighbour, the 9*len(dil) shifted images stacked for
    torch.std, the differences stacked, a zero map plus one addcmul per neighbour and step."""
    def shift(x, dy, dx, d):
        h, w = x.shape[-2:]
        return F.pad(x, (d, d, d, d), mode='replicate')[..., d + dy:d + dy + h, d + dx:d + dx + w]

    nbrs = [(dy, dx) for d in dilations for dy in (-d, 0, d) for dx in (-d, 0, d) if (dy, dx) != (0, 0)]
    values = [shift(image, dy, dx, d) for d in dilations for dy in (-d, 0, d) for dx in (-d, 0, d)]
    diffs = [(image - shift(image, dy, dx, d)).abs()
             for d in dilations for dy in (-d, 0, d) for dx in (-d, 0, d) if (dy, dx) != (0, 0)]
    std = torch.stack(values, dim=2).std(dim=2, keepdim=True)
    weights = (-torch.stack(diffs, dim=2) / (1e-8 + 0.1 * std)).mean(dim=1).softmax(dim=1)
    dil = [d for d in dilations for _ in range(8)]
    x = F.interpolate(masks, size=image.shape[-2:], mode='bilinear', align_corners=True)
    for _ in range(steps):
        refined = torch.zeros_like(x)
        for k, ((dy, dx), d) in enumerate(zip(nbrs, dil)):
            refined.addcmul_(weights[:, k:k + 1], shift(x, dy, dx, d))
        x = refined
    return weights, x


@pytest.mark.parametrize('shape, dilations, chunk', [((2, 3, 40, 56), (8, 16), None), ((1, 3, 13, 70), (8, 16), 2),
                                                     ((1, 3, 20, 24), (1, 2, 3), None)])
def test_pamr_equals_the_plain_formula_exactly(shape, dilations, chunk):
    """The single-pad, in-place PAMR gives the same bits as the plain formula: weights and refined logits, also
    when the image is narrower than the padding and when names are refined in chunks."""
    torch.manual_seed(0)
    image, masks = torch.randn(*shape) * 2, torch.randn(shape[0], 5, shape[2], shape[3])
    want_weights, want = pamr_plain_torch(image, masks, 4, dilations)
    assert torch.equal(pamr_affinity(image, dilations), want_weights)
    assert torch.equal(pamr(image, masks, steps=4, dilations=dilations, chunk=chunk), want)


def test_replicate_border_equals_replicate_padding():
    x = torch.randn(2, 3, 7, 9)
    padded = F.pad(x, (4, 4, 4, 4))
    _replicate_border(padded, 4)
    assert torch.equal(padded, F.pad(x, (4, 4, 4, 4), mode='replicate'))


def test_pamr_keeps_constant_masks():
    torch.manual_seed(0)
    mask = torch.full((1, 2, 16, 16), 0.25)
    out = pamr(torch.randn(1, 3, 16, 16), mask, steps=5, dilations=(8, 16))
    torch.testing.assert_close(out, mask)


def test_reduce_to_classes_takes_max_over_names():
    probs = torch.tensor([[0.1], [0.5], [0.2], [0.2]]).view(4, 1, 1)
    idx = torch.tensor([0, 0, 1, 2])
    out = reduce_to_classes(probs, idx, 3)
    assert out.flatten().tolist() == pytest.approx([0.5, 0.2, 0.2])


@pytest.mark.parametrize('idx', [[0, 0, 1, 2, 0, 3, 3], [1, 0, 2, 3, 0, 0, 2], [0, 1, 2, 3]])
def test_reduce_equals_a_scatter_max_from_zeros(idx):
    """Names in any order (a class's names need not be next to each other), maps of any shape."""
    torch.manual_seed(0)
    idx = torch.tensor(idx)
    for shape in [(6, 7), (5,), (2, 3, 4)]:
        probs = torch.rand(len(idx), *shape)
        want = probs.new_zeros((4, *shape)).scatter_reduce(
            0, idx.view(-1, *([1] * len(shape))).expand_as(probs), probs, reduce='amax', include_self=True)
        assert torch.equal(reduce_to_classes(probs, idx, 4), want)


def test_area_threshold_counts_foreground_share_only():
    # class 1 has 1 of 10 foreground pixels (10%), class 2 has 9; background pixels do not count.
    probs = torch.zeros(3, 1, 30)
    probs[0, 0, :20] = 1.0
    probs[1, 0, 20] = 1.0
    probs[2, 0, 21:] = 1.0
    out = apply_area_threshold(probs.clone(), 0.1)
    assert out[1].sum() == 0 and out[2].sum() == 9 and out[0].sum() == 20
    assert apply_area_threshold(probs.clone(), 0.05)[1].sum() == 1


def test_probability_threshold_sets_background():
    probs = torch.tensor([[0.2, 0.1], [0.5, 0.3], [0.3, 0.6]]).view(3, 1, 2)
    assert probs_to_prediction(probs, 0.55).flatten().tolist() == [0, 2]
    assert probs_to_prediction(probs, 0.0).flatten().tolist() == [1, 2]


@settings(max_examples=200, deadline=None)
@given(h=st.integers(1, 700), w=st.integers(1, 700), crop=st.integers(1, 300), stride=st.integers(1, 300))
def test_slide_windows_cover_every_pixel_in_bounds(h, w, crop, stride):
    boxes = slide_windows(h, w, (crop, crop), (stride, stride))
    cover = np.zeros((h, w), dtype=np.int32)
    for y1, y2, x1, x2 in boxes:
        assert 0 <= y1 < y2 <= h and 0 <= x1 < x2 <= w
        assert y2 - y1 == min(crop, h) and x2 - x1 == min(crop, w)
        cover[y1:y2, x1:x2] += 1
    if stride <= crop:
        assert cover.min() >= 1


def test_slide_windows_reference_layout():
    # 336x448 with crop 224 / stride 112: 2 rows x 3 columns, the last ones shifted back to the border.
    boxes = slide_windows(336, 448, (224, 224), (112, 112))
    assert boxes == [(0, 224, 0, 224), (0, 224, 112, 336), (0, 224, 224, 448),
                     (112, 336, 0, 224), (112, 336, 112, 336), (112, 336, 224, 448)]


def _streamed(logits, query_idx, num_classes):
    """StreamedScores over (Q, H, W) scaled logits, as the segmentor builds them (one chunk)."""
    best, best_idx = logits.max(dim=0)
    denom = (logits - best).exp().sum(dim=0)

    def rescan(keep_name):
        masked = logits.clone()
        masked[~keep_name] = -float('inf')
        return masked.max(dim=0)
    return StreamedScores(best, best_idx, denom, query_idx, num_classes, rescan)


@pytest.mark.parametrize('steps', [[], [ProbThreshold(0.3)], [AreaThreshold(0.2), ProbThreshold(0.25)],
                                   [AreaThreshold(0.5)], [ProbThreshold(0.3), Renormalize()]])
def test_streamed_scores_give_the_dense_labels(steps):
    torch.manual_seed(0)
    logits = 3 * torch.randn(7, 12, 16)
    query_idx = torch.tensor([0, 1, 1, 2, 3, 3, 4])
    dense = DenseScores(reduce_to_classes(logits.softmax(dim=0), query_idx, 5))
    streamed = _streamed(logits, query_idx, 5)
    for step in steps:
        step(dense, CTX)
        step(streamed, CTX)
    assert torch.equal(dense.labels(), streamed.labels())
    if not any(isinstance(s, Renormalize) for s in steps):
        torch.testing.assert_close(streamed.top(), dense.top())


def test_streamed_scores_refuse_reads_after_renormalize():
    logits = torch.randn(3, 4, 4)
    streamed = _streamed(logits, torch.arange(3), 3)
    Renormalize()(streamed, CTX)
    with pytest.raises(StreamingUnsupported, match='renormalised'):
        ProbThreshold(0.5)(streamed, CTX)


def test_step_order_and_values_are_checked():
    from sclip_toolkit.models.postprocess import PAMR
    with pytest.raises(ValueError, match='before the scores-stage'):
        build_steps([dict(type='ProbThreshold', threshold=0.1), dict(type='PAMR', steps=2)])
    with pytest.raises(ValueError, match='threshold must be in'):
        ProbThreshold(1.5)
    with pytest.raises(ValueError, match='steps must be an int >= 1'):
        PAMR(steps=0)
