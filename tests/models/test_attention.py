"""Each attention variant against a plain, independently written formula on a tiny random CLIP."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sclip_toolkit.exceptions import ConfigError
from sclip_toolkit.models.attention import AttnContext, attention_variants, build_attention, gaussian_window_bias

CLIP_ONLY = ['vanilla', 'maskclip', 'sclip', 'naclip', 'clearclip']


def _tokens(backbone, b=1, h=3, w=4, seed=0):
    torch.manual_seed(seed)
    return torch.randn(b, 1 + h * w, backbone.visual.transformer.width), (h, w)


def _plain_qkv(block, x):
    """q, k, v per head as python lists of (T, d) matrices, computed with explicit matmuls."""
    y = F.layer_norm(x, (x.shape[-1],), block.ln_1.weight, block.ln_1.bias, block.ln_1.eps)
    W, bias = block.attn.in_proj_weight, block.attn.in_proj_bias
    D = x.shape[-1]
    heads = block.attn.num_heads
    d = D // heads
    q, k, v = (y @ W[i * D:(i + 1) * D].t() + bias[i * D:(i + 1) * D] for i in range(3))
    split = lambda t: [t[:, hd * d:(hd + 1) * d] for hd in range(heads)]  # noqa: E731
    return split(q[0]), split(k[0]), split(v[0]), d


def _plain_finish(block, x, outs, residual, ffn):
    o = torch.cat(outs, dim=-1) @ block.attn.out_proj.weight.t() + block.attn.out_proj.bias
    o = o.unsqueeze(0)
    if residual:
        o = x + o
    if ffn:
        h = F.layer_norm(o, (o.shape[-1],), block.ln_2.weight, block.ln_2.bias, block.ln_2.eps)
        h = h @ block.mlp.c_fc.weight.t() + block.mlp.c_fc.bias
        h = h * torch.sigmoid(1.702 * h)  # QuickGELU
        o = o + (h @ block.mlp.c_proj.weight.t() + block.mlp.c_proj.bias)
    return o[:, 1:]


def _softmax_rows(a):
    a = a - a.max(dim=-1, keepdim=True).values
    e = a.exp()
    return e / e.sum(dim=-1, keepdim=True)


def plain_reference(name, block, x, grid):
    q, k, v, d = _plain_qkv(block, x)
    s = d ** -0.5
    outs = []
    for qh, kh, vh in zip(q, k, v):
        if name == 'vanilla':
            P = _softmax_rows((qh @ kh.t()) * s)
        elif name == 'maskclip':
            P = torch.eye(qh.shape[0])
        elif name == 'sclip':
            P = _softmax_rows((qh @ qh.t()) * s) + _softmax_rows((kh @ kh.t()) * s)
        elif name == 'clearclip':
            P = _softmax_rows((qh @ qh.t()) * s)
        elif name == 'naclip':
            h, w = grid
            T = qh.shape[0]
            omega = torch.zeros(T, T)
            for a in range(h * w):
                for b in range(h * w):
                    ra, ca, rb, cb = a // w, a % w, b // w, b % w
                    omega[1 + a, 1 + b] = math.exp(-((ra - rb) ** 2 + (ca - cb) ** 2) / (2 * 5.0 ** 2))
            P = _softmax_rows((kh @ kh.t()) * s + omega)
        outs.append(P @ vh)
    residual, ffn = {'vanilla': (True, True), 'sclip': (True, True)}.get(name, (False, False))
    return _plain_finish(block, x, outs, residual, ffn)


@pytest.mark.parametrize('name', CLIP_ONLY)
def test_variant_matches_plain_formula(tiny_backbone, name):
    block = tiny_backbone.visual.transformer.resblocks[-1]
    x, grid = _tokens(tiny_backbone)
    variant = build_attention(name)
    with torch.no_grad():
        got, out_grid = variant(block, x, AttnContext(grid=grid))
        want = plain_reference(name, block, x, grid)
    assert out_grid == grid
    assert got.shape == (1, grid[0] * grid[1], x.shape[-1])
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4)


def test_vanilla_equals_stock_clip_block(tiny_backbone):
    block = tiny_backbone.visual.transformer.resblocks[-1]
    x, grid = _tokens(tiny_backbone, b=2)
    with torch.no_grad():
        got, _ = build_attention('vanilla')(block, x, AttnContext(grid=grid))
        want = block(x)[:, 1:]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_vanilla_dense_forward_equals_open_clip_tokens(tiny_backbone):
    """The dense forward with the vanilla variant gives open_clip's own patch tokens at the native size."""
    torch.manual_seed(1)
    image = torch.randn(2, 3, 64, 64)
    visual = tiny_backbone.visual
    with torch.no_grad():
        dense, grid = tiny_backbone.encode_dense(image, build_attention('vanilla'))
        x = visual._embeds(image)
        x = visual.transformer(x)
        want = visual.ln_post(x[:, 1:]) @ visual.proj
    assert grid == (4, 4)
    torch.testing.assert_close(dense, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('name', CLIP_ONLY)
def test_batch_of_two_equals_two_singles(tiny_backbone, name):
    torch.manual_seed(2)
    images = torch.randn(2, 3, 48, 80)
    variant = build_attention(name)
    with torch.no_grad():
        both, _ = tiny_backbone.encode_dense(images, variant)
        one, _ = tiny_backbone.encode_dense(images[:1], variant)
        two, _ = tiny_backbone.encode_dense(images[1:], variant)
    torch.testing.assert_close(both, torch.cat([one, two]), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('name', CLIP_ONLY)
def test_variants_leave_parameters_untouched(tiny_backbone, name):
    before = {k: v.clone() for k, v in tiny_backbone.state_dict().items()}
    with torch.no_grad():
        tiny_backbone.encode_dense(torch.randn(1, 3, 64, 48), build_attention(name))
    after = tiny_backbone.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_gaussian_bias_closed_form():
    h, w, std = 3, 5, 2.0
    bias = gaussian_window_bias(h, w, std, torch.float32, torch.device('cpu'))[0]
    assert bias.shape == (1 + h * w, 1 + h * w)
    assert torch.all(bias[0] == 0) and torch.all(bias[:, 0] == 0)
    r = torch.arange(h).repeat_interleave(w).float()
    c = torch.arange(w).repeat(h).float()
    want = torch.exp(-((r[:, None] - r[None]) ** 2 + (c[:, None] - c[None]) ** 2) / (2 * std ** 2))
    torch.testing.assert_close(bias[1:, 1:], want, atol=2e-7, rtol=0)


def test_unknown_variant_lists_valid_names():
    with pytest.raises(ConfigError) as err:
        build_attention('sclipp')
    for alias in CLIP_ONLY:
        assert alias in str(err.value)
    assert set(CLIP_ONLY) <= set(attention_variants())


def test_invalid_naclip_std():
    with pytest.raises(ValueError, match='gaussian_std'):
        build_attention(dict(type='naclip', gaussian_std=0))


@pytest.mark.parametrize('with_records', [False, True])
def test_kept_residual_and_ffn_apply_layer_scale(with_records):
    """open_clip blocks with layer scale (ls_1, ls_2): the vanilla variant, and a block run while its q/k/v and
    attention map are recorded, both equal the block's own forward."""
    from open_clip.transformer import ResidualAttentionBlock

    from sclip_toolkit.models.attention import run_block_recorded
    torch.manual_seed(0)
    block = ResidualAttentionBlock(64, 2, ls_init_value=0.5, batch_first=True).eval()
    with torch.no_grad():
        block.ls_2.gamma.normal_(0.5, 0.2)  # not the same scale on both branches
        x = torch.randn(2, 1 + 6, 64)
        want = block(x)
        if with_records:
            got, record = run_block_recorded(block, x, with_attn=True)
            assert record.q.shape == (2, 2, 7, 32) and record.attn.shape == (2, 2, 7, 7)
            torch.testing.assert_close(record.attn.sum(-1), torch.ones(2, 2, 7))
        else:
            got = torch.cat([x[:, :1], build_attention('vanilla')(block, x, AttnContext(grid=(2, 3)))[0]], dim=1)
    torch.testing.assert_close(got[:, 1:], want[:, 1:], atol=1e-5, rtol=1e-5)
