"""Vision foundation models: official checkpoint layouts, architecture read from shapes, input handling, errors."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from sclip_toolkit.exceptions import ConfigError

from sclip_toolkit.models.checkpoint import CheckpointError
from sclip_toolkit.models.vfm import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, VFMFeatures
from sclip_toolkit.testing import random_vfm_checkpoint, write_random_vfm

FAMILIES = ('dino', 'dinov2', 'sam', 'mae')

# Per-block tensor names of the official releases, written from the official model code (DINO / DINOv2
# vision_transformer.py, segment_anything/modeling/image_encoder.py, MAE models_vit.py on timm 0.4.12).
_LINEAR = {f'{m}.{p}' for m in ('norm1', 'attn.qkv', 'attn.proj', 'norm2') for p in ('weight', 'bias')}
OFFICIAL_BLOCK_KEYS = {
    'dino': _LINEAR | {f'mlp.fc{i}.{p}' for i in (1, 2) for p in ('weight', 'bias')},
    'dinov2': _LINEAR | {f'mlp.fc{i}.{p}' for i in (1, 2) for p in ('weight', 'bias')} | {'ls1.gamma', 'ls2.gamma'},
    'sam': _LINEAR | {f'mlp.lin{i}.{p}' for i in (1, 2) for p in ('weight', 'bias')} | {'attn.rel_pos_h',
                                                                                          'attn.rel_pos_w'},
    'mae': _LINEAR | {f'mlp.fc{i}.{p}' for i in (1, 2) for p in ('weight', 'bias')},
}
OFFICIAL_TOP_KEYS = {
    'dino': {'cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias', 'norm.weight', 'norm.bias'},
    'dinov2': {'cls_token', 'pos_embed', 'register_tokens', 'mask_token', 'patch_embed.proj.weight', 'norm.weight'},
    'sam': {'image_encoder.pos_embed', 'image_encoder.patch_embed.proj.weight', 'image_encoder.neck.0.weight',
            'image_encoder.neck.1.weight', 'image_encoder.neck.2.weight', 'image_encoder.neck.3.bias'},
    'mae': {'cls_token', 'pos_embed', 'patch_embed.proj.weight', 'norm.weight', 'norm.bias'},
}


@pytest.fixture(scope='module')
def vfm_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp('vfm')
    return {family: write_random_vfm(root / f'{family}.pth', family) for family in FAMILIES}


def _clip_normalise(pixels: torch.Tensor) -> torch.Tensor:
    """[0, 1] RGB pixels (B, 3, H, W) -> what the CLIP backbone receives."""
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (pixels - mean) / std


@pytest.mark.parametrize('family', FAMILIES)
def test_random_checkpoints_use_the_official_key_layout(family, vfm_paths):
    raw = torch.load(vfm_paths[family], weights_only=True)
    state = raw['model'] if family == 'mae' else raw  # MAE releases wrap the encoder in {'model': ...}
    prefix = 'image_encoder.' if family == 'sam' else ''
    assert OFFICIAL_TOP_KEYS[family] <= set(state)
    block0 = {k[len(prefix + 'blocks.0.'):] for k in state if k.startswith(prefix + 'blocks.0.')}
    assert block0 == OFFICIAL_BLOCK_KEYS[family]
    if family == 'sam':
        assert state['image_encoder.pos_embed'].dim() == 4  # (1, G, G, D), not a token list
        assert any(k.startswith('prompt_encoder.') for k in state)  # the rest of SAM is in the file too


@pytest.mark.parametrize('family, size, grid', [
    ('dino', (112, 168), (14, 21)),  # patch 8, any crop
    ('dinov2', (112, 168), (8, 12)),  # patch 14
    ('sam', (112, 168), (8, 8)),  # always its own square image size (grid 8 * patch 16)
    ('mae', (112, 168), (4, 4)),  # its built size (the checkpoint's 64 px here)
])
def test_forward_shapes(family, size, grid, vfm_paths):
    vfm = VFMFeatures(family=family, checkpoint=str(vfm_paths[family]))
    out = vfm(torch.randn(2, 3, *size))
    channels = 32 if family == 'sam' else 128  # SAM: the neck's channels
    assert out.shape == (2, channels, *grid) and vfm.out_channels == channels
    assert torch.isfinite(out).all()


def test_architecture_is_read_from_shapes(tmp_path):
    """The same config (official DINO ViT-B/8) loads any DINO: width, depth, heads, patch size from the file."""
    small = write_random_vfm(tmp_path / 'a.pth', 'dino', embed_dim=192, depth=3, grid=5)
    vfm = VFMFeatures(family='dino', arch='vit_base', patch_size=8, checkpoint=str(small))
    s = vfm.spec
    assert (s.embed_dim, s.depth, s.num_heads, s.patch_size, s.grid, s.mlp_hidden) == (192, 3, 3, 8, 5, 768)
    assert vfm.trunk.vit.blocks[0].attn.num_heads == 3
    sam = VFMFeatures(family='sam', checkpoint=str(write_random_vfm(tmp_path / 's.pth', 'sam', depth=4, grid=10,
                                                                      window_size=3, global_attn_indexes=(1, 3))))
    assert (sam.spec.depth, sam.spec.window_size, sam.spec.global_attn_indexes, sam.spec.num_heads) == (4, 3, (1, 3), 2)
    reg = VFMFeatures(family='dinov2', checkpoint=str(write_random_vfm(tmp_path / 'r.pth', 'dinov2', registers=0)))
    assert reg.spec.registers == 0 and reg.spec.layer_scale


def test_unpublished_width_needs_num_heads(tmp_path):
    path = write_random_vfm(tmp_path / 'odd.pth', 'dino', embed_dim=96, num_heads=3)
    with pytest.raises(CheckpointError, match='num_heads'):
        VFMFeatures(family='dino', checkpoint=str(path))
    assert VFMFeatures(family='dino', checkpoint=str(path), num_heads=3).spec.num_heads == 3


def test_input_is_renormalised_to_imagenet_statistics(vfm_paths):
    pixels = torch.rand(1, 3, 32, 48)
    vfm = VFMFeatures(family='dino', checkpoint=str(vfm_paths['dino']))
    expected = (pixels - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(vfm.preprocess(_clip_normalise(pixels)), expected, atol=1e-5, rtol=1e-5)


def test_sam_stretches_any_crop_to_its_image_size(vfm_paths):
    vfm = VFMFeatures(family='sam', checkpoint=str(vfm_paths['sam']))
    pixels = torch.rand(1, 3, 40, 90)
    x = vfm.preprocess(_clip_normalise(pixels))
    assert x.shape == (1, 3, 128, 128)  # grid 8 x patch 16, aspect not kept (as the reference)
    direct = vfm.preprocess(_clip_normalise(F.interpolate(pixels, size=(128, 128), mode='bilinear')))
    torch.testing.assert_close(x, direct, atol=1e-5, rtol=1e-5)  # bilinear commutes with the per-channel affine map


def test_mae_positional_grid_follows_img_size(vfm_paths):
    vfm = VFMFeatures(family='mae', checkpoint=str(vfm_paths['mae']), img_size=96)
    assert vfm.trunk.vit.pos_embed.shape == (1, 1 + 6 * 6, 128)
    ckpt = torch.load(vfm_paths['mae'], weights_only=True)['model']['pos_embed']
    grid = ckpt[:, 1:].reshape(1, 4, 4, 128).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(6, 6), mode='bicubic', align_corners=False).permute(0, 2, 3, 1)
    torch.testing.assert_close(vfm.trunk.vit.pos_embed[:, 1:].reshape(1, 6, 6, 128), expected)
    torch.testing.assert_close(vfm.trunk.vit.pos_embed[:, :1], ckpt[:, :1])
    assert vfm(torch.randn(1, 3, 50, 70)).shape == (1, 128, 6, 6)


def test_dino_positional_embedding_uses_the_scale_factor_recipe(vfm_paths):
    trunk = VFMFeatures(family='dino', checkpoint=str(vfm_paths['dino'])).trunk
    pos = trunk.vit.pos_embed  # 4x4 grid
    grid = pos[:, 1:].reshape(1, 4, 4, -1).permute(0, 3, 1, 2)
    recipe = F.interpolate(grid, scale_factor=(7.1 / 4, 9.1 / 4), mode='bicubic')
    got = trunk.pos_embed_for((7, 9), pos.dtype)
    torch.testing.assert_close(got[:, 1:], recipe.permute(0, 2, 3, 1).reshape(1, 63, -1))
    by_size = F.interpolate(grid, size=(7, 9), mode='bicubic').permute(0, 2, 3, 1).reshape(1, 63, -1)
    assert (got[:, 1:] - by_size).abs().max() > 1e-3  # the recipe is not a plain resize
    assert torch.equal(trunk.pos_embed_for((4, 4), pos.dtype), pos)  # the trained grid is used as is


def test_dinov2_positional_rule_depends_on_registers(tmp_path):
    reg = VFMFeatures(family='dinov2', checkpoint=str(write_random_vfm(tmp_path / 'r.pth', 'dinov2'))).trunk
    plain = VFMFeatures(family='dinov2', checkpoint=str(write_random_vfm(tmp_path / 'p.pth', 'dinov2',
                                                                          registers=0))).trunk
    grid = reg.vit.pos_embed[:, 1:].reshape(1, 4, 4, -1).permute(0, 3, 1, 2)
    antialiased = F.interpolate(grid, size=(3, 6), mode='bicubic', antialias=True)
    torch.testing.assert_close(reg.pos_embed_for((3, 6), torch.float32)[:, 1:],
                               antialiased.permute(0, 2, 3, 1).reshape(1, 18, -1))
    grid = plain.vit.pos_embed[:, 1:].reshape(1, 4, 4, -1).permute(0, 3, 1, 2)
    offset = F.interpolate(grid, scale_factor=(3.1 / 4, 6.1 / 4), mode='bicubic')
    torch.testing.assert_close(plain.pos_embed_for((3, 6), torch.float32)[:, 1:],
                               offset.permute(0, 2, 3, 1).reshape(1, 18, -1))


def test_layer_selects_an_earlier_block(tmp_path):
    """layer=0 equals the last layer of the same checkpoint cut to its first block (norm applied in both)."""
    full = random_vfm_checkpoint('dinov2', depth=3)
    cut = {k: v for k, v in full.items() if not k.startswith(('blocks.1.', 'blocks.2.'))}
    torch.save(full, tmp_path / 'full.pth')
    torch.save(cut, tmp_path / 'cut.pth')
    x = torch.randn(1, 3, 56, 70)
    first = VFMFeatures(family='dinov2', checkpoint=str(tmp_path / 'full.pth'), layer=0)(x)
    torch.testing.assert_close(first, VFMFeatures(family='dinov2', checkpoint=str(tmp_path / 'cut.pth'))(x))
    assert (first - VFMFeatures(family='dinov2', checkpoint=str(tmp_path / 'full.pth'))(x)).abs().max() > 1e-3
    with pytest.raises(IndexError, match='out of range'):
        VFMFeatures(family='dinov2', checkpoint=str(tmp_path / 'full.pth'), layer=3)(x)


def test_chunked_dinov2_blocks_load(tmp_path):
    """DINOv2 training checkpoints nest blocks in chunks (blocks.<chunk>.<index>.*); they load as the flat ones."""
    flat = random_vfm_checkpoint('dinov2', depth=2)
    chunked = {(k.replace('blocks.1.', 'blocks.1.1.').replace('blocks.0.', 'blocks.0.0.')
                if k.startswith('blocks.') else k): v for k, v in flat.items()}
    torch.save(flat, tmp_path / 'flat.pth')
    torch.save(chunked, tmp_path / 'chunked.pth')
    x = torch.randn(1, 3, 56, 56)
    torch.testing.assert_close(VFMFeatures(family='dinov2', checkpoint=str(tmp_path / 'flat.pth'))(x),
                               VFMFeatures(family='dinov2', checkpoint=str(tmp_path / 'chunked.pth'))(x))


def test_official_weights_come_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    with pytest.raises(CheckpointError) as err:
        VFMFeatures(family='dino', arch='vit_base', patch_size=8, download=False)
    msg = str(err.value)
    assert 'dino_vitbase8_pretrain.pth' in msg and 'https://dl.fbaipublicfiles.com/dino/' in msg
    assert str(tmp_path / 'hub' / 'checkpoints') in msg
    write_random_vfm(tmp_path / 'hub' / 'checkpoints' / 'dino_vitbase8_pretrain.pth', 'dino')
    vfm = VFMFeatures(family='dino', arch='vit_base', patch_size=8, download=False)
    assert vfm.spec.embed_dim == 128 and 'dino_vitbase8_pretrain.pth' in vfm.checkpoint_id
    with pytest.raises(CheckpointError, match='sam_vit_l_0b3195.pth'):
        VFMFeatures(family='sam', arch='vit_l', download=False)  # SAM's own arch names are accepted


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(family='clip'), ConfigError, "valid: dino, dinov2, sam, mae"),
    (dict(family='dino', arch='vit_large', download=False), CheckpointError, "published: arch='vit_small'"),
    (dict(family='dinov2', arch='vit_base', registers=2, download=False), CheckpointError, 'registers=4'),
    (dict(family='dino', checkpoint='/nonexistent/dino.pth'), CheckpointError, '/nonexistent/dino.pth'),
    (dict(family='dino', img_size=336, checkpoint='x'), ValueError, 'img_size is for MAE'),
    (dict(family='sam', pos_interp=dict(offset=0.1), checkpoint='x'), ValueError, 'DINOv2 only'),
])
def test_bad_configurations_fail_clearly(kwargs, error, match):
    with pytest.raises(error, match=match):
        VFMFeatures(**kwargs)


def test_a_checkpoint_of_another_family_is_rejected(vfm_paths, tiny_clip_path):
    with pytest.raises(CheckpointError, match='not a dino checkpoint'):
        VFMFeatures(family='dino', checkpoint=str(vfm_paths['sam']))
    with pytest.raises(CheckpointError, match='not a sam checkpoint'):
        VFMFeatures(family='sam', checkpoint=str(vfm_paths['dino']))
    with pytest.raises(CheckpointError, match='missing'):
        VFMFeatures(family='dino', checkpoint=str(tiny_clip_path))


def test_precision_casts_the_whole_model(vfm_paths):
    vfm = VFMFeatures(family='dinov2', checkpoint=str(vfm_paths['dinov2']))
    x = torch.randn(1, 3, 56, 84)
    ref = vfm(x)
    vfm.apply_precision(torch.float16)
    assert all(p.dtype == torch.float16 for p in vfm.parameters())  # LayerNorms too, as the reference's .half()
    out = vfm(x)
    assert out.dtype == torch.float16
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max()


def test_registered_in_mmseg_models(vfm_paths):
    vfm = MODELS.build(dict(type='VFMFeatures', family='mae', checkpoint=str(vfm_paths['mae']), img_size=32))
    assert isinstance(vfm, VFMFeatures) and vfm(torch.randn(1, 3, 20, 20)).shape == (1, 128, 2, 2)
    assert not any(p.requires_grad for p in vfm.parameters())
    assert math.isclose(vfm.stats[0, 0, 0].item(), CLIP_MEAN[0], rel_tol=1e-6)
