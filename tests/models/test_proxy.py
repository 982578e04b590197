"""ProxyCLIP: the proxy attention against a plain, independently written formula; VFM wiring; configs; parity."""
from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sclip_toolkit.apis import build_segmentor, run_segmentor
from sclip_toolkit.config import load_config
from sclip_toolkit.models import CLIPBackbone, ProxyAttention, VFMFeatures
from sclip_toolkit.models.attention import AttnContext, build_attention
from sclip_toolkit.testing import write_random_vfm

from ..conftest import assert_parity
from ..test_config_settings import flat

# ---------------------------------------------------------------------------------------------- plain formulas
# Written from docs/methods.md sections 5.3-5.4 with loops and float64, sharing no code with the implementation.


def plain_bilinear(x: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """(C, h, w) -> (C, out_h, out_w), bilinear with half-pixel centres and clamped borders (align_corners=False)."""
    _, h, w = x.shape
    out = torch.empty(x.shape[0], out_h, out_w, dtype=x.dtype)

    def taps(i: int, size_in: int, size_out: int):
        src = max((i + 0.5) * size_in / size_out - 0.5, 0.0)
        i0 = min(int(src), size_in - 1)
        return i0, min(i0 + 1, size_in - 1), src - i0

    for i in range(out_h):
        y0, y1, ly = taps(i, h, out_h)
        for j in range(out_w):
            x0, x1, lx = taps(j, w, out_w)
            top = (1 - lx) * x[:, y0, x0] + lx * x[:, y0, x1]
            bottom = (1 - lx) * x[:, y1, x0] + lx * x[:, y1, x1]
            out[:, i, j] = (1 - ly) * top + ly * bottom
    return out


def plain_proxy(block, x: torch.Tensor, grid, feats: torch.Tensor, beta: float, gamma: float) -> torch.Tensor:
    """ProxyCLIP's last block for tokens x (B, 1 + h*w, D) and VFM features (B, C, I, J) -> (B, I*J, D)."""
    dim, heads = x.shape[-1], block.attn.num_heads
    d = dim // heads
    ln = F.layer_norm(x.double(), (dim,), block.ln_1.weight.double(), block.ln_1.bias.double(), block.ln_1.eps)
    v_all = ln @ block.attn.in_proj_weight[2 * dim:].double().t() + block.attn.in_proj_bias[2 * dim:].double()
    (h, w), (big_i, big_j) = grid, feats.shape[-2:]
    outs = []
    for b in range(x.shape[0]):
        patches = v_all[b, 1:].t().reshape(dim, h, w)  # CLS dropped; token r*w + c is grid cell (r, c)
        v = plain_bilinear(patches, big_i, big_j).reshape(dim, -1).t()  # (M, D)
        f = feats[b].double().reshape(feats.shape[1], -1)
        f = f / f.norm(dim=0, keepdim=True)
        sim = f.t() @ f
        logits = gamma * (sim - beta * sim.mean())
        e = torch.where(logits < 0, torch.zeros_like(logits), logits.exp())
        p = e / e.sum(dim=1, keepdim=True)  # 0/0 = NaN for a fully masked row, as the reference
        mixed = torch.cat([p @ v[:, i * d:(i + 1) * d] for i in range(heads)], dim=1)  # the same P for every head
        outs.append(mixed @ block.attn.out_proj.weight.double().t() + block.attn.out_proj.bias.double())
    return torch.stack(outs)


@pytest.fixture(scope='module')
def block():
    from open_clip.transformer import ResidualAttentionBlock
    torch.manual_seed(0)
    blk = ResidualAttentionBlock(64, 4, batch_first=True).eval()  # 4 heads: the matrix must be shared by all
    with torch.no_grad():
        blk.attn.in_proj_weight.mul_(3.0)
        blk.attn.in_proj_bias.normal_()
        blk.ln_1.weight.uniform_(0.5, 1.5)
    return blk


@pytest.mark.parametrize('grid, vfm_grid', [((3, 3), (6, 6)), ((2, 3), (5, 7)), ((4, 2), (4, 2)), ((3, 5), (2, 2))])
def test_proxy_attention_matches_plain_formula(block, grid, vfm_grid):
    torch.manual_seed(1)
    x = torch.randn(2, 1 + grid[0] * grid[1], 64)
    feats = torch.randn(2, 16, *vfm_grid) + 0.5  # positive mean -> positive mean similarity, some entries masked
    attn = build_attention(dict(type='proxy', beta=1.2, gamma=3.0))
    with torch.no_grad():
        out, out_grid = attn(block, x, AttnContext(grid=grid, vfm_feats=feats))
    assert out_grid == vfm_grid and out.shape == (2, vfm_grid[0] * vfm_grid[1], 64)
    expected = plain_proxy(block, x, grid, feats, 1.2, 3.0)
    torch.testing.assert_close(out.double(), expected, atol=2e-5, rtol=1e-5)


def test_batch_items_are_independent(block):
    """mean(S) is taken per image, so a batch of crops gives each crop's own result (the reference runs one)."""
    torch.manual_seed(2)
    x, feats = torch.randn(3, 1 + 9, 64), torch.randn(3, 8, 4, 4)
    feats[1] += 2.0  # very different similarity statistics per item
    attn = ProxyAttention()
    with torch.no_grad():
        both, _ = attn(block, x, AttnContext(grid=(3, 3), vfm_feats=feats))
        for i in range(3):
            one, _ = attn(block, x[i:i + 1], AttnContext(grid=(3, 3), vfm_feats=feats[i:i + 1]))
            torch.testing.assert_close(both[i:i + 1], one, atol=1e-5, rtol=1e-5)


def test_uniform_crop_keeps_own_value_unless_unguarded(block):
    """All similarities 1 -> mean 1 -> beta * mean > 1 masks every entry: the reference gives NaN
    (guard_empty_rows=False); the default guard keeps each token's own value."""
    x = torch.randn(1, 1 + 4, 64)
    feats = torch.ones(1, 8, 2, 2)
    with torch.no_grad():
        out, _ = ProxyAttention(guard_empty_rows=False)(block, x, AttnContext(grid=(2, 2), vfm_feats=feats))
        assert torch.isnan(out).all()
        guarded, _ = ProxyAttention()(block, x, AttnContext(grid=(2, 2), vfm_feats=feats))
        v = F.linear(block.ln_1(x), block.attn.in_proj_weight[128:], block.attn.in_proj_bias[128:])[:, 1:]
        torch.testing.assert_close(guarded, block.attn.out_proj(v))
        # on an ordinary crop the guard changes nothing
        feats = torch.randn(1, 8, 2, 2)
        a, _ = ProxyAttention(guard_empty_rows=False)(block, x, AttnContext(grid=(2, 2), vfm_feats=feats))
        b, _ = ProxyAttention()(block, x, AttnContext(grid=(2, 2), vfm_feats=feats))
        torch.testing.assert_close(a, b)


def test_without_vfm_features(block):
    x = torch.randn(1, 1 + 4, 64)
    with pytest.raises(ValueError, match='configure model.clip.vfm'):
        ProxyAttention()(block, x, AttnContext(grid=(2, 2)))
    with torch.no_grad():
        out, grid = ProxyAttention(fallback='vanilla')(block, x, AttnContext(grid=(2, 2)))
        torch.testing.assert_close(out, block(x)[:, 1:])
    assert grid == (2, 2)
    with pytest.raises(ValueError, match='fallback'):
        ProxyAttention(fallback='maskclip')


# ---------------------------------------------------------------------------------------------- backbone wiring
@pytest.fixture(scope='module')
def tiny_dino(tmp_path_factory):
    return write_random_vfm(tmp_path_factory.mktemp('vfm') / 'dino.pth', 'dino')


def test_clip_backbone_runs_the_vfm_on_the_same_crop(tiny_clip_path, tiny_dino):
    clip = CLIPBackbone(checkpoint=str(tiny_clip_path), final_attn='proxy',
                        vfm=dict(type='VFMFeatures', family='dino', checkpoint=str(tiny_dino)))
    assert isinstance(clip.vfm, VFMFeatures)
    image = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        feats, grid = clip.encode_dense(image)
        assert grid == (8, 12) and feats.shape == (2, 96, 32)  # DINO /8 grid; CLIP's own grid is 4x6
        x, clip_grid = clip.embed(image)
        for blk in clip.visual.transformer.resblocks[:-1]:
            x = blk(x)
        tokens = plain_proxy(clip.visual.transformer.resblocks[-1], x, clip_grid, clip.vfm(image), 1.2, 3.0)
        expected = clip.visual.ln_post(tokens.float()) @ clip.visual.proj
    torch.testing.assert_close(feats, expected, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------------------------- configs
def test_voc21_config_has_the_reference_settings():
    m = load_config('proxyclip/proxyclip_voc21').model
    s = flat(m)
    assert (s['logit_scale'], s['prob_thd'], s['separator'], s['pamr_steps']) == (40, 0.2, '; ', 0)
    assert (s['mode'], s['crop_size'], s['stride'], s['pad_multiple']) == ('slide', 336, 112, 56)
    assert s['class_names'].endswith('cls_voc21__proxyclip.txt')
    attn = build_attention(m.clip.final_attn)
    assert isinstance(attn, ProxyAttention) and (attn.beta, attn.gamma) == (1.2, 3.0)
    assert (m.clip.vfm.family, m.clip.vfm.arch, m.clip.vfm.patch_size) == ('dino', 'vit_base', 8)


@pytest.mark.parametrize('suffix, family', [('', 'dino'), ('_dinov2', 'dinov2'), ('_sam', 'sam'), ('_mae', 'mae')])
def test_vfm_configs_segment_with_tiny_models(suffix, family, tmp_path, tiny_clip_path):
    vfm_path = write_random_vfm(tmp_path / f'{family}.pth', family)
    cfg = load_config(f'proxyclip/proxyclip_voc21{suffix}', checkpoint=str(tiny_clip_path),
                      vfm_checkpoint=str(vfm_path))
    assert cfg.model.clip.vfm.family == family
    image = tmp_path / 'img.png'
    import cv2
    cv2.imwrite(str(image), np.random.RandomState(0).randint(0, 256, (40, 50, 3), dtype=np.uint8))
    model = build_segmentor(cfg, 'cpu')
    sample = run_segmentor(model, cfg, [str(image)])[0]
    assert sample.pred_sem_seg.data.shape == (1, 40, 50)
    assert sample.seg_logits.data.shape == (21, 40, 50) and torch.isfinite(sample.seg_logits.data).all()


# ---------------------------------------------------------------------------------------------- parity
def test_parity_with_reference_on_mini_models():
    """ProxyCLIP's own code on random CLIP + DINO weights (../shared/parity): within 1e-4, argmax >= 0.999."""
    assert_parity('proxyclip', 'proxyclip/proxyclip_voc21', vfm=True)
