"""RF-CLIP: its pieces against plain loop formulas, and the head and its segmentor wiring (the comparison with the
released code's outputs is in test_rfclip_crosscheck.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sclip_toolkit.apis import build_segmentor
from sclip_toolkit.config import load_config
from sclip_toolkit.exceptions import ConfigError
from sclip_toolkit.models.attention.rfclip import (SINK_CHANNELS, RFCLIPAttention, feature_denoising,
                                                   feature_enhancing, refocus_attention)
from sclip_toolkit.models.heads import RFCLIPHead, complete_linkage_clusters
from sclip_toolkit.models.scoring import StreamingUnsupported


# ---------------------------------------------------------------------------------------------------- pieces
def test_feature_denoising_matches_a_per_token_loop():
    torch.manual_seed(0)
    b, h, w, d, channels, sigma, alpha = 2, 3, 4, 16, (1, 5, 9), 5.0, 0.4
    x = torch.randn(b, 1 + h * w, d)
    x[0, 1 + 5, 5] = x[1, 1 + 0, 9] = x[1, 1 + 11, 1] = 40.0  # three sink tokens, one in a corner
    want = x.clone()
    sinks = 0
    for i in range(b):
        for r in range(h):
            for c in range(w):
                f = x[i, 1 + r * w + c]
                share = (f - f.min()) / (f - f.min()).sum()
                if max(share[j] for j in channels) > sigma / d:
                    sinks += 1
                    neigh = sum(x[i, 1 + rr * w + cc] for rr in range(r - 1, r + 2) for cc in range(c - 1, c + 2)
                                if 0 <= rr < h and 0 <= cc < w) / 9  # zero padding, always / 9
                else:
                    neigh = f
                want[i, 1 + r * w + c] = (1 - alpha) * f + alpha * neigh
    assert sinks == 3
    torch.testing.assert_close(feature_denoising(x, (h, w), channels, sigma, alpha), want, atol=1e-5, rtol=1e-5)


def test_feature_enhancing_matches_a_pairwise_loop():
    torch.manual_seed(1)
    x, guide = torch.randn(2, 7, 5), torch.randn(2, 7, 5)
    guide[:, 2] = guide[:, 3] * 2  # a pair with cosine 1
    want = x.clone()
    for i in range(2):
        for a in range(1, 7):
            acc = torch.zeros(5)
            for b in range(1, 7):
                cos = float(guide[i, a] @ guide[i, b] / (guide[i, a].norm() * guide[i, b].norm()))
                acc += (cos if cos >= 0.4 else 0.0) * x[i, b]
            want[i, a] = acc
    torch.testing.assert_close(feature_enhancing(x, guide, 0.4), want, atol=1e-5, rtol=1e-5)


def test_refocus_matches_a_per_head_loop_and_leaves_heads_without_sinks_alone():
    torch.manual_seed(2)
    t, threshold, beta = 30, 0.1, 0.6
    logits = torch.randn(1, 2, t, t)
    logits[0, 0, :, 3] += 6.0  # head 0: column 3 draws most attention (a sink); head 1 has none
    attn = logits.softmax(dim=-1)
    want = attn.clone()
    for head in range(2):
        a = want[0, head]
        sink = [j for j in range(t - 1) if float(a[1:, 1 + j].sum()) / t > threshold]
        if not sink:
            continue
        cols = [1 + j for j in sink]
        removed = a[1:, cols].sum(dim=1) * (1 - beta)
        a[1:, cols] *= beta
        others = a[1:, 1:].clone()
        others[:, sink] = 0
        a[1:, 1:] += removed[:, None] * others / (others.sum(dim=1, keepdim=True) + 1e-8)
    out = refocus_attention(attn, threshold, beta)
    torch.testing.assert_close(out, want, atol=1e-6, rtol=1e-6)
    assert not torch.allclose(out[0, 0], attn[0, 0]) and torch.equal(out[0, 1], attn[0, 1])


def test_layer_mean_key_key_attention_matches_a_per_head_loop(tiny_backbone):
    block = tiny_backbone.visual.transformer.resblocks[-1]
    torch.manual_seed(3)
    x = torch.randn(1, 7, 128)
    kk = [torch.randn(1, 2, 7, 7).softmax(dim=-1) for _ in range(3)]
    with torch.no_grad():
        out = RFCLIPAttention()._layer_mean_attention(block, x, sum(m[..., 1:, 1:] for m in kk), len(kk))
        qkv = F.linear(block.ln_1(x[0]), block.attn.in_proj_weight, block.attn.in_proj_bias)
        k, v = qkv[:, 128:256], qkv[:, 256:]
        heads = []
        for hd in range(2):
            kh, vh = k[:, hd * 64:(hd + 1) * 64], v[:, hd * 64:(hd + 1) * 64]
            last = torch.softmax(kh @ kh.t() / 8.0, dim=-1)
            mean = (sum(m[0, hd, 1:, 1:] for m in kk) + last[1:, 1:]) / 4  # every layer's map, CLS dropped
            heads.append(mean @ vh[1:])
        want = block.attn.out_proj(torch.cat(heads, dim=-1))
    torch.testing.assert_close(out[0], want, atol=1e-5, rtol=1e-5)


def test_cls_extra_is_the_stock_clip_embedding_when_denoising_is_off(tiny_backbone):
    """With alpha = 0 the intermediate blocks are stock CLIP, so the handed-on CLS is open_clip's image embedding."""
    image = torch.randn(2, 3, 64, 64)
    extras = {}
    variant = RFCLIPAttention(denoise_alpha=0.0, **RFCLIPAttention.settings_for(128, 12))
    with torch.no_grad():
        feats, grid = tiny_backbone.encode_dense(image, variant, extras=extras)
        want = tiny_backbone.model.encode_image(image)
    assert feats.shape == (2, 16, 32) and grid == (4, 4)
    torch.testing.assert_close(extras['cls'], want, atol=1e-5, rtol=1e-5)


def test_sink_channels_are_checked_against_the_width(tiny_backbone):
    with pytest.raises(ConfigError, match=r'channel 713, but this vision tower is only 128 wide'):
        tiny_backbone.encode_dense(torch.randn(1, 3, 32, 32), RFCLIPAttention())
    narrow = RFCLIPAttention.settings_for(128, 12)['sink_channels']
    assert narrow and max(narrow) < 128 and RFCLIPAttention.settings_for(768, 12) == {}
    assert RFCLIPAttention('auto').channels(1024) == SINK_CHANNELS['vit-l14']
    assert RFCLIPAttention('auto').channels(768) == SINK_CHANNELS['vit-b16'] == RFCLIPAttention().channels(1024)
    with pytest.raises(ValueError, match='strategy'):
        RFCLIPAttention(strategy='sink')
    with pytest.raises(ValueError, match='sink_channels'):
        RFCLIPAttention(sink_channels='vit-h14')


def test_refocus_strategy_changes_the_features(tiny_backbone):
    image = torch.randn(1, 3, 64, 80)
    narrow = RFCLIPAttention.settings_for(128, 12)
    with torch.no_grad():
        plain, _ = tiny_backbone.encode_dense(image, RFCLIPAttention(**narrow))
        refocused, _ = tiny_backbone.encode_dense(image, RFCLIPAttention(strategy='refocus', **narrow))
    assert plain.shape == refocused.shape and not torch.allclose(plain, refocused)


# ---------------------------------------------------------------------------------------------------- head
def _naive_complete_linkage(x: np.ndarray, t: float) -> set:
    """Partition by merging the two clusters of least complete-linkage distance while it is <= t."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    dist = 1 - unit @ unit.T
    clusters = [[i] for i in range(len(x))]
    while len(clusters) > 1:
        pairs = [(max(dist[a, b] for a in ca for b in cb), i, j) for i, ca in enumerate(clusters)
                 for j, cb in enumerate(clusters) if i < j]
        d, i, j = min(pairs)
        if d > t:
            break
        clusters[i] += clusters.pop(j)
    return {frozenset(c) for c in clusters}


@pytest.mark.parametrize('threshold', [0.0, 0.05, 0.3, 2.0])
def test_clusters_match_a_naive_complete_linkage(threshold):
    rng = np.random.RandomState(4)
    centres = rng.randn(3, 8)
    x = np.concatenate([c + 0.15 * rng.randn(4, 8) for c in centres]).astype(np.float32)
    labels = complete_linkage_clusters(torch.from_numpy(x), threshold).numpy()
    got = {frozenset(np.flatnonzero(labels == k).tolist()) for k in set(labels.tolist())}
    assert got == _naive_complete_linkage(x.astype(np.float64), threshold)
    assert sorted(set(labels.tolist())) == list(range(len(got)))
    assert complete_linkage_clusters(torch.randn(1, 8), 0.1).tolist() == [0]


def test_head_matches_a_per_cluster_loop():
    torch.manual_seed(5)
    base = F.normalize(torch.randn(3, 8), dim=-1)
    names = F.normalize(torch.cat([base[:1] + 0.05 * torch.randn(3, 8), base[1:2], base[2:] + 0.05 * torch.randn(2, 8)]),
                        dim=-1)  # clusters {0, 1, 2}, {3}, {4, 5}
    feats = F.normalize(torch.randn(2, 6, 8), dim=-1)
    cls = torch.randn(2, 8)
    head = RFCLIPHead(global_semantics_weight=0.3, mean_vector_weight=0.2, h_threshold=0.1, global_source='crop')
    got = head(feats, names, {'cls': cls})
    clusters = complete_linkage_clusters(names, 0.1)
    assert len(set(clusters.tolist())) == 3
    for i in range(2):
        g = F.normalize(cls[i], dim=0) @ names.t()
        adapted = names.clone()
        for k in set(clusters.tolist()):
            members = [q for q in range(6) if clusters[q] == k]
            best = max(members, key=lambda q: (float(g[q]), -q))
            sims = feats[i] @ names[best]
            top = sorted(range(6), key=lambda n: -float(sims[n]))[:2]
            mean = F.normalize(feats[i, top].mean(dim=0), dim=0)
            adapted[best] = F.normalize(0.8 * names[best] + 0.2 * mean, dim=0)
        want = 0.7 * (feats[i] @ adapted.t()) + 0.3 * g
        torch.testing.assert_close(got[i], want, atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="no 'global' embedding"):
        RFCLIPHead()(feats, names, {'cls': cls})


@pytest.fixture(scope='module')
def tiny_rfclip(tiny_clip_path):
    """An RF-CLIP segmentor (rfclip_voc20's settings: sliding crops) on the tiny CLIP, with its narrow channels."""
    cfg = load_config('configs/rfclip/rfclip_voc20.py', checkpoint=str(tiny_clip_path), cfg_options={
        'model.clip.final_attn.sink_channels': RFCLIPAttention.settings_for(128, 12)['sink_channels']})
    return build_segmentor(cfg, 'cpu')


def test_global_term_is_the_whole_image_cls_computed_once(tiny_rfclip, monkeypatch):
    image = torch.randn(1, 3, 96, 300)
    calls = []
    encode = tiny_rfclip.clip.encode_dense
    monkeypatch.setattr(tiny_rfclip.clip, 'encode_dense', lambda *a, **k: calls.append(a[0].shape) or encode(*a, **k))
    crops = tiny_rfclip.inference.encode(tiny_rfclip.clip, image)
    tiny_rfclip.head.prepare(tiny_rfclip.clip, image, crops)
    assert len(crops.boxes) == 2 and calls == [(2, 3, 96, 224), (1, 3, 96, 300)]  # the crops, then the image once
    whole = {}
    encode(image, extras=whole)
    torch.testing.assert_close(crops.extras['global'], whole['cls'].expand(2, -1))
    assert not torch.allclose(crops.extras['cls'][0], whole['cls'][0])  # a crop's own CLS differs


def test_head_needs_every_name_so_names_are_not_streamed(tiny_rfclip):
    assert not tiny_rfclip.can_stream()
    tiny_rfclip.keep_scores = False
    try:
        with pytest.raises(StreamingUnsupported, match='RFCLIPHead'):
            tiny_rfclip.keeps_scores((64, 64))
    finally:
        tiny_rfclip.keep_scores = None
    image = torch.randn(1, 3, 64, 96)
    dense = tiny_rfclip.predict(image)[0]
    tiny_rfclip.max_score_bytes = 1  # too small for the scores: not streamed by names but banded by rows (all names)
    try:
        small = tiny_rfclip.predict(image)[0]
    finally:
        tiny_rfclip.max_score_bytes = 1 << 28
    assert 'seg_logits' in dense and 'seg_logits' not in small
    assert torch.equal(small.pred_sem_seg.data.long(), dense.pred_sem_seg.data.long())
