"""Invariants every registered attention variant must keep, parametrized over the registry at collection time.

A variant registered by any imported module (a project's own, or a pytest plugin ``-p my_variants``) is tested here
without editing this file: batches equal single images, weights stay untouched, shapes are right, the dtype flow
holds and non-square inputs run.
"""
from __future__ import annotations

import pytest
import torch

from sclip_toolkit.models import CLIPBackbone
from sclip_toolkit.models.attention import attention_variants, build_attention
from sclip_toolkit.models.text import ClassEmbeddings
from sclip_toolkit.testing import write_random_vfm

VARIANTS = sorted(attention_variants())


@pytest.fixture(scope='module')
def backbone(tiny_clip_path, tmp_path_factory):
    """The tiny CLIP with a tiny DINO, so variants that read VFM features get them (the others ignore them)."""
    dino = write_random_vfm(tmp_path_factory.mktemp('vfm') / 'dino.pth', 'dino')
    return CLIPBackbone(checkpoint=str(tiny_clip_path), vfm=dict(type='VFMFeatures', family='dino',
                                                                 checkpoint=str(dino)))


def _text(backbone, num_names: int = 3) -> ClassEmbeddings:
    torch.manual_seed(11)
    names = torch.nn.functional.normalize(torch.randn(num_names, backbone.visual.proj.shape[1]), dim=-1)
    return ClassEmbeddings(names, torch.arange(num_names), num_names)


def _run(backbone, name, images, **kw):
    # settings a variant needs on this tiny tower (e.g. RF-CLIP's sink channels, which are ViT-B/16's by default)
    settings = attention_variants()[name].settings_for(backbone.visual.conv1.out_channels, backbone.num_blocks)
    variant = build_attention(dict(type=name, **settings))
    with torch.no_grad():
        return backbone.encode_dense(images, variant, text=_text(backbone), **kw)


def test_every_shipped_variant_is_registered():
    assert {'vanilla', 'maskclip', 'sclip', 'naclip', 'clearclip', 'proxy', 'scclip'} <= set(VARIANTS)


@pytest.mark.parametrize('name', VARIANTS)
def test_batch_of_two_equals_two_single_images(backbone, name):
    torch.manual_seed(5)
    # 5x7 patches: SC-CLIP's outlier quantile and similarity cut are discontinuous, and a grid of a dozen tokens of
    # a tiny random model puts scores on those edges, where batched matmuls' rounding decides
    images = torch.randn(2, 3, 80, 112)
    both, grid = _run(backbone, name, images)
    one, _ = _run(backbone, name, images[:1])
    two, _ = _run(backbone, name, images[1:])
    torch.testing.assert_close(both, torch.cat([one, two]), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('name', VARIANTS)
def test_weights_are_untouched(backbone, name):
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    _run(backbone, name, torch.randn(1, 3, 64, 48))
    after = backbone.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize('name', VARIANTS)
@pytest.mark.parametrize('size', [(48, 80), (80, 48), (37, 53)])
def test_shapes_on_non_square_inputs(backbone, name, size):
    feats, grid = _run(backbone, name, torch.randn(2, 3, *size))
    assert feats.shape == (2, grid[0] * grid[1], backbone.visual.proj.shape[1])
    clip_grid = (size[0] // backbone.patch_size, size[1] // backbone.patch_size)
    vfm_grid = tuple(s // backbone.vfm.patch_size for s in size)
    assert grid in (clip_grid, vfm_grid), (grid, clip_grid, vfm_grid)
    assert torch.isfinite(feats).all()


@pytest.mark.parametrize('name', VARIANTS)
def test_dtype_flow(tiny_clip_path, name, tmp_path):
    """fp32 gives fp32 features; precision='fp16' (the CUDA default) runs the encoder in fp16 end to end, with
    LayerNorms kept in fp32 as in OpenAI's models, and stays close to fp32."""
    dino = write_random_vfm(tmp_path / 'dino.pth', 'dino')
    clip = CLIPBackbone(checkpoint=str(tiny_clip_path), vfm=dict(type='VFMFeatures', family='dino',
                                                                 checkpoint=str(dino)))
    # A fixed input, not the session RNG (the result depended on test order): on random weights, SC-CLIP's
    # anomaly-token pick and RF-CLIP's discrete choices can flip under fp16 for some inputs (seeds 0-4 flip one).
    images = torch.randn(1, 3, 48, 64, generator=torch.Generator().manual_seed(5))
    full, _ = _run(clip, name, images)
    assert full.dtype == torch.float32
    clip.precision = 'fp16'
    half, _ = _run(clip, name, images)
    assert half.dtype == torch.float16 and clip.visual.ln_post.weight.dtype == torch.float32
    scale = full.abs().max()
    assert (half.float() - full).abs().max() < 0.05 * scale + 0.05
