"""SC-CLIP: each calibration step against a plain, independently written formula; parity with the reference."""
from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sclip_toolkit.models.attention import AttnContext, build_attention
from sclip_toolkit.models.attention.scclip import (SCCLIPAttention, aggregate, cosine_affinity, lof_outliers,
                                         mean_interpolation, self_adjusted_attention)

from ..conftest import assert_parity
from ..test_config_settings import flat

# ---------------------------------------------------------------------------------------------- plain formulas
# Written from docs/methods.md with loops and float64, sharing no code with the implementation.


def plain_lof(x: torch.Tensor, k: int = 30, contamination: float = 0.05):
    """LOF scores and outlier set of tokens x (N, D), as the reference defines them (docs/methods.md 6.2)."""
    x = x.double()
    n = x.shape[0]
    k = min(k, n - 1)
    dist = ((x[:, None] - x[None]) ** 2).sum(-1)  # squared Euclidean
    neighbours, k_dist = [], []
    for a in range(n):
        order = sorted((float(dist[a, b]), b) for b in range(n) if b != a)[:k]
        neighbours.append([b for _, b in order])
        k_dist.append(order[-1][0])
    # LRD_a = k / k_a (own k-distance as reachability), LOF_a = mean_b LRD_b / LRD_a = mean_b k_a / k_b
    scores = np.array([np.mean([k_dist[a] / k_dist[b] for b in neighbours[a]]) for a in range(n)])
    threshold = np.quantile(scores, 1 - contamination)  # linear interpolation
    return scores, {a for a in range(n) if scores[a] > threshold}


def plain_repair(x: torch.Tensor, outliers, h: int, w: int) -> torch.Tensor:
    """Each outlier -> mean of its non-outlier 8-neighbours inside the (h, w) row-major grid."""
    out = x.clone()
    for a in outliers:
        r, c = divmod(a, w)
        cells = [(rr, cc) for rr in (r - 1, r, r + 1) for cc in (c - 1, c, c + 1) if (rr, cc) != (r, c)]
        valid = [rr * w + cc for rr, cc in cells if 0 <= rr < h and 0 <= cc < w and rr * w + cc not in outliers]
        if valid:
            out[a] = x[valid].mean(dim=0)
    return out


def plain_affinity(x):
    f = x / x.norm(dim=1, keepdim=True)
    return f @ f.t()


def plain_aggregate(a, y):
    return (a / (a.sum(dim=1, keepdim=True) + 1e-6)) @ y


def plain_attention(block, x, sim, gamma=3.0):
    """Self-adjusted attention of tokens x (N, D) (before ln_1), per head with explicit softmaxes."""
    d_model = x.shape[-1]
    heads = block.attn.num_heads
    d = d_model // heads
    p = {n: t.double() for n, t in block.named_parameters()}
    y = F.layer_norm(x, (d_model,), p['ln_1.weight'], p['ln_1.bias'], block.ln_1.eps)
    w, bias = p['attn.in_proj_weight'], p['attn.in_proj_bias']
    k = y @ w[d_model:2 * d_model].t() + bias[d_model:2 * d_model]
    v = y @ w[2 * d_model:].t() + bias[2 * d_model:]
    g = gamma * (sim - sim.mean())
    keep = (g >= 0).double()
    p_sim = torch.exp(g) * keep / (torch.exp(g) * keep).sum(dim=1, keepdim=True)
    outs = []
    for hd in range(heads):
        kh, vh = k[:, hd * d:(hd + 1) * d], v[:, hd * d:(hd + 1) * d]
        logits = kh @ kh.t() / d ** 0.5
        p_key = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
        p_key = p_key / p_key.sum(dim=1, keepdim=True)
        outs.append(((p_sim + p_key) / 2) @ vh)
    return torch.cat(outs, dim=1) @ p['attn.out_proj.weight'].t() + p['attn.out_proj.bias']


def plain_scclip(block, x, hidden, grid, pre=8, post=3, start=3, end=10, res_cls=0.3, thr=0.4):
    """SC-CLIP's last stage for one image: x (T, D) = Z_{L-2}, hidden[j] (T, D) = Z_j; returns (N, D)."""
    h, w = grid
    x, hidden = x.double(), {j: z.double() for j, z in hidden.items()}
    _, outliers = plain_lof(x[1:])
    sim = plain_affinity(plain_repair(hidden[pre][1:], outliers, h, w))
    smoothed = plain_aggregate(sim * (sim >= thr), plain_repair(x[1:], outliers, h, w))
    y = plain_attention(block, smoothed, sim) + res_cls * x[0]
    s_post = plain_affinity(hidden[post][1:])
    s_post = s_post * (s_post >= thr)
    fused = sum(hidden[j] for j in range(start, end))
    y2 = plain_attention(block, fused[1:], sim) + res_cls * fused[0]
    return plain_aggregate(s_post, y) + plain_aggregate(s_post, y2)


def _hidden_states(backbone, images):
    """Z_{L-2} (B, T, D), all recorded Z_j and the grid, computed exactly as encode_dense does."""
    x, grid = backbone.embed(images)
    hidden = {}
    for i, block in enumerate(backbone.visual.transformer.resblocks[:-1]):
        x = block(x)
        hidden[i] = x
    return x, hidden, grid


# ---------------------------------------------------------------------------------------------- LOF
def test_lof_finds_planted_outliers():
    torch.manual_seed(0)
    b, h, w, d = 2, 14, 14, 32
    tokens = 0.1 * torch.randn(b, h * w, d)
    planted = [sorted(torch.randperm(h * w)[:10].tolist()) for _ in range(b)]  # 5 % of 196, as contamination
    for i, idx in enumerate(planted):
        directions = F.normalize(torch.randn(len(idx), d), dim=1)
        tokens[i, idx] = 3.0 * directions  # each far from the cloud and from the others
    mask, scores = lof_outliers(tokens)
    for i in range(b):
        assert torch.where(mask[i])[0].tolist() == planted[i]
        assert scores[i, planted[i]].min() > 3 * scores[i, ~mask[i]].max()
    repaired = mean_interpolation(tokens, mask, (h, w))
    assert repaired.norm(dim=-1).max() < 0.5 * 3.0  # the repaired tokens now sit in the cloud


@pytest.mark.parametrize('n, k', [(40, 30), (12, 30), (25, 5)])
def test_lof_matches_plain_formula(n, k):
    torch.manual_seed(n + k)
    x = torch.randn(2, n, 8) * torch.rand(2, n, 1) * 3  # uneven local densities
    mask, scores = lof_outliers(x, n_neighbors=k, contamination=0.1)
    for i in range(2):
        want_scores, want_set = plain_lof(x[i], k, 0.1)
        np.testing.assert_allclose(scores[i].double().numpy(), want_scores, rtol=1e-5)
        assert set(torch.where(mask[i])[0].tolist()) == want_set
        assert len(want_set) > 0


def test_degenerate_tokens_give_an_empty_outlier_set_and_no_change():
    """Identical tokens make every LOF score NaN: nothing is an outlier and nothing is repaired (no crash)."""
    x = torch.ones(1, 12, 4)
    mask, _ = lof_outliers(x)
    assert not mask.any()
    assert torch.equal(mean_interpolation(x, mask, (3, 4)), x)


# ---------------------------------------------------------------------------------------------- repair
def test_mean_interpolation_matches_plain_loops_on_a_non_square_grid():
    torch.manual_seed(1)
    h, w = 4, 6
    x = torch.randn(2, h * w, 5)
    mask = torch.zeros(2, h * w, dtype=torch.bool)
    mask[0, [0, 5, 7, 23]] = True  # corners and an interior cell
    mask[1, [0, 1, 6, 7]] = True    # a 2x2 block in the corner: token 0's neighbours 1, 6, 7 are all outliers
    got = mean_interpolation(x, mask, (h, w))
    for i in range(2):
        want = plain_repair(x[i], set(torch.where(mask[i])[0].tolist()), h, w)
        torch.testing.assert_close(got[i], want, atol=1e-6, rtol=1e-6)
    assert torch.equal(got[1, 0], x[1, 0])  # every neighbour of corner 0 is an outlier: left unchanged


def test_mean_interpolation_uses_the_column_count():
    """Token 2 of a 2x3 grid is row 0, column 2: its neighbours are tokens 1, 4, 5 (not the reference's (1, 0))."""
    x = torch.arange(6, dtype=torch.float32).view(1, 6, 1) ** 2
    mask = torch.zeros(1, 6, dtype=torch.bool)
    mask[0, 2] = True
    got = mean_interpolation(x, mask, (2, 3))
    assert got[0, 2, 0].item() == pytest.approx((1 + 16 + 25) / 3)
    assert torch.equal(got[0, [0, 1, 3, 4, 5]], x[0, [0, 1, 3, 4, 5]])


# ---------------------------------------------------------------------------------------------- attention
def test_affinity_and_aggregation_match_plain():
    torch.manual_seed(2)
    x, y = torch.randn(2, 10, 6), torch.randn(2, 10, 3)
    s = cosine_affinity(x)
    a = s.masked_fill(s < 0.4, 0)
    got = aggregate(a, y)
    for i in range(2):
        ps = plain_affinity(x[i].double())
        torch.testing.assert_close(s[i].double(), ps, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(got[i].double(), plain_aggregate(ps * (ps >= 0.4), y[i].double()),
                                   atol=1e-5, rtol=1e-5)


def test_self_adjusted_attention_matches_plain_per_head():
    """Four heads: the affinity term is shared by all heads, the key-key term is per head."""
    from open_clip.transformer import ResidualAttentionBlock
    torch.manual_seed(3)
    block = ResidualAttentionBlock(64, 4).eval()
    x = torch.randn(2, 20, 64)
    sim = cosine_affinity(torch.randn(2, 20, 8))
    with torch.no_grad():
        got = self_adjusted_attention(block, x, sim, gamma=3.0)
        for i in range(2):
            want = plain_attention(block, x[i].double(), sim[i].double())
            torch.testing.assert_close(got[i].double(), want, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------- whole variant
def test_encode_dense_matches_plain_pipeline(tiny_backbone):
    """Batch of 2 on a non-square 6x8 grid: the dense output equals the plain per-image pipeline + ln_post, proj."""
    torch.manual_seed(4)
    images = torch.randn(2, 3, 96, 128)
    variant = build_attention('scclip')
    visual = tiny_backbone.visual
    with torch.no_grad():
        got, grid = tiny_backbone.encode_dense(images, variant)
        x, hidden, _ = _hidden_states(tiny_backbone, images)
        block = visual.transformer.resblocks[-1]
        for i in range(2):
            tokens = plain_scclip(block, x[i], {j: z[i] for j, z in hidden.items()}, grid)
            tokens = F.layer_norm(tokens, (tokens.shape[-1],), visual.ln_post.weight.double(),
                                  visual.ln_post.bias.double(), visual.ln_post.eps)
            want = tokens @ visual.proj.double()
            torch.testing.assert_close(got[i].double(), want, atol=1e-4, rtol=1e-4)
    assert grid == (6, 8) and got.shape == (2, 48, visual.proj.shape[1])


def test_batch_equals_single_images(tiny_backbone):
    torch.manual_seed(5)
    x, hidden, grid = _hidden_states(tiny_backbone, torch.randn(3, 3, 80, 112))
    block = tiny_backbone.visual.transformer.resblocks[-1]
    variant = build_attention('scclip')
    with torch.no_grad():
        both, _ = variant(block, x, AttnContext(grid=grid, hidden=hidden))
        for i in range(3):
            ctx = AttnContext(grid=grid, hidden={j: z[i:i + 1] for j, z in hidden.items()})
            one, _ = variant(block, x[i:i + 1], ctx)
            torch.testing.assert_close(both[i:i + 1], one, atol=1e-5, rtol=1e-5)


def test_grid_smaller_than_the_neighbourhood(tiny_backbone):
    """A 3x4 grid (12 tokens < 30 neighbours + 1) runs with the neighbourhood shrunk to 11 tokens."""
    with torch.no_grad():
        out, grid = tiny_backbone.encode_dense(torch.randn(1, 3, 48, 64), build_attention('scclip'))
    assert grid == (3, 4) and torch.isfinite(out).all()


def test_constants_are_parameters(tiny_backbone):
    """sim_threshold, attn_gamma, res_cls and the LOF settings change the output; defaults are the reference's."""
    torch.manual_seed(6)
    images = torch.randn(1, 3, 80, 96)
    default = SCCLIPAttention()
    assert (default.sim_threshold, default.attn_gamma, default.lof_neighbors, default.lof_contamination,
            default.res_cls) == (0.4, 3.0, 30, 0.05, 0.3)
    with torch.no_grad():
        base, _ = tiny_backbone.encode_dense(images, default)
        for kwargs in (dict(sim_threshold=0.2), dict(attn_gamma=1.0), dict(res_cls=0.0), dict(lof_contamination=0.2)):
            other, _ = tiny_backbone.encode_dense(images, SCCLIPAttention(**kwargs))
            assert not torch.allclose(base, other, atol=1e-4), kwargs


def test_layer_indices_validated(tiny_backbone):
    vitl = SCCLIPAttention(pre_adjust_idx=16, post_adjust_idx=6, multi_start_idx=8, multi_end_idx=19)
    with pytest.raises(ValueError, match=r'records only 0\.\.10'):
        tiny_backbone.encode_dense(torch.randn(1, 3, 64, 64), vitl)
    assert list(vitl.recording(24).hidden) == [6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]
    with pytest.raises(ValueError, match='start < end'):
        SCCLIPAttention(multi_start_idx=5, multi_end_idx=5)
    with pytest.raises(ValueError, match='pre_adjust_idx'):
        SCCLIPAttention(pre_adjust_idx=-1)
    with pytest.raises(ValueError, match='lof_contamination'):
        SCCLIPAttention(lof_contamination=1.5)
    with pytest.raises(ValueError, match='lof_dtype'):
        SCCLIPAttention(lof_dtype='fp64')


def test_missing_hidden_states_named(tiny_backbone):
    block = tiny_backbone.visual.transformer.resblocks[-1]
    with pytest.raises(KeyError, match='block 8'):
        SCCLIPAttention()(block, torch.randn(1, 1 + 40, 64), AttnContext(grid=(5, 8)))


# ---------------------------------------------------------------------------------------------- configs, parity
def test_configs():
    from sclip_toolkit.config import load_config
    cfg = load_config('scclip/scclip_voc21')
    m = cfg.model
    s = flat(m)
    assert (s['logit_scale'], s['prob_thd'], s['area_thd'], s['separator']) == (50, 0.15, 0.1, ', ')
    assert (s['crop_size'], s['stride'], s['pad_multiple']) == (224, 112, None)
    assert s['class_names'].endswith('cls_voc21.txt')
    attn = build_attention(m.clip.final_attn)
    assert isinstance(attn, SCCLIPAttention) and list(attn.recording(12).hidden) == [3, 4, 5, 6, 7, 8, 9]
    large = load_config('scclip/scclip_vitl14_voc21').model
    s = flat(large)
    assert large.clip.name == 'ViT-L/14' and (s['logit_scale'], s['prob_thd'], s['area_thd']) == (40, 0.2, 0.1)
    attn = build_attention(large.clip.final_attn)
    assert (attn.pre_adjust_idx, attn.post_adjust_idx, attn.multi_start_idx, attn.multi_end_idx, attn.res_cls) == \
        (16, 6, 8, 19, 0.1)


def test_parity_with_reference_on_mini_clip():
    """SC-CLIP's own code on random weights (../shared/parity): seg_logits within 1e-4, argmax agreement >= 0.999."""
    assert_parity('scclip', 'scclip/scclip_voc21')
