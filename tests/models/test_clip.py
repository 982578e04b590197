"""CLIP loading (OpenAI-layout files, TorchScript archives, names) and positional-embedding interpolation."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sclip_toolkit.models import CLIPBackbone
from sclip_toolkit.models.checkpoint import CheckpointError, fetch_openai_checkpoint, load_state_dict
from sclip_toolkit.models.clip import interpolate_pos_embed
from sclip_toolkit.testing import random_clip_state_dict, write_random_clip


def _plain_bicubic_weights(t, a=-0.75):
    t = abs(t)
    if t <= 1:
        return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
    if t < 2:
        return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
    return 0.0


def _plain_interp_1d(src, out_len, scale):
    """1-D bicubic resampling with PyTorch's rule when a scale factor is given: src = (dst + 0.5) / scale - 0.5."""
    n = src.shape[0]
    out = []
    for i in range(out_len):
        x = (i + 0.5) / scale - 0.5
        x0 = int(torch.floor(torch.tensor(x)))
        acc = 0.0
        for m in range(-1, 3):
            j = min(max(x0 + m, 0), n - 1)
            acc = acc + _plain_bicubic_weights(x - (x0 + m)) * src[j]
        out.append(acc)
    return torch.stack(out)


def test_pos_embed_uses_scale_factor_recipe():
    torch.manual_seed(0)
    G, D, h, w = 4, 3, 6, 5
    pos = torch.randn(G * G + 1, D)
    got = interpolate_pos_embed(pos, (h, w))
    assert got.shape == (h * w + 1, D)
    torch.testing.assert_close(got[0], pos[0])
    grid = pos[1:].reshape(G, G, D)
    rows = torch.stack([_plain_interp_1d(grid[:, c], h, (h + 0.1) / G) for c in range(G)], dim=1)  # (h, G, D)
    want = torch.stack([_plain_interp_1d(rows[r], w, (w + 0.1) / G) for r in range(h)])  # (h, w, D)
    torch.testing.assert_close(got[1:].reshape(h, w, D), want, atol=1e-5, rtol=1e-5)
    # ... which is not what resizing to a size gives
    by_size = F.interpolate(grid.permute(2, 0, 1)[None], size=(h, w), mode='bicubic', align_corners=False)
    assert (by_size[0].permute(1, 2, 0) - want).abs().max() > 1e-3


def test_pos_embed_native_grid_is_unchanged():
    pos = torch.randn(17, 8)
    assert interpolate_pos_embed(pos, (4, 4)) is pos


def test_state_dict_and_torchscript_archives_load_the_same(tmp_path):
    sd_path = write_random_clip(tmp_path / 'a.pt')
    ts_path = write_random_clip(tmp_path / 'b.pt', fmt='torchscript')
    a, b = load_state_dict(sd_path), load_state_dict(ts_path)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    model = CLIPBackbone(checkpoint=str(ts_path))
    assert model.patch_size == 16 and model.num_blocks == 12
    assert model.visual.transformer.resblocks[0].attn.num_heads == 2  # width 128 // 64


def test_fp16_checkpoint_loads_as_fp32_on_cpu(tmp_path):
    path = write_random_clip(tmp_path / 'half.pt', dtype=torch.float16)
    model = CLIPBackbone(checkpoint=str(path))
    out, grid = model.encode_dense(torch.randn(1, 3, 32, 48))
    assert out.dtype == torch.float32 and grid == (2, 3)


def test_malicious_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ('pwned',))

    path = tmp_path / 'evil.pt'
    torch.save({'x': Evil()}, path)
    with pytest.raises(CheckpointError, match='not loaded for safety'):
        load_state_dict(path)


def test_truncated_and_wrong_architecture_checkpoints(tmp_path):
    good = write_random_clip(tmp_path / 'good.pt')
    cut = tmp_path / 'cut.pt'
    cut.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match='truncated, corrupt'):
        CLIPBackbone(checkpoint=str(cut))
    other = tmp_path / 'resnet.pt'
    torch.save({'conv.weight': torch.zeros(3, 3)}, other)
    with pytest.raises(CheckpointError, match='not a CLIP ViT checkpoint'):
        CLIPBackbone(checkpoint=str(other))
    broken = random_clip_state_dict()
    broken['visual.proj'] = torch.zeros(3, 3)
    torch.save(broken, tmp_path / 'broken.pt')
    with pytest.raises(CheckpointError, match='do not fit'):
        CLIPBackbone(checkpoint=str(tmp_path / 'broken.pt'))
    with pytest.raises(CheckpointError, match='does not exist'):
        CLIPBackbone(checkpoint=str(tmp_path / 'missing.pt'))


def test_missing_openai_weights_offline_say_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv('SCLIP_CLIP_CACHE', str(tmp_path))
    with pytest.raises(CheckpointError) as err:
        fetch_openai_checkpoint('ViT-B/16', download=False)
    msg = str(err.value)
    assert str(tmp_path / 'ViT-B-16.pt') in msg and 'SCLIP_CLIP_CACHE' in msg and 'checkpoint=' in msg


def test_cached_openai_file_with_wrong_checksum_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv('SCLIP_CLIP_CACHE', str(tmp_path))
    (tmp_path / 'ViT-B-16.pt').write_bytes(b'partial download')
    with pytest.raises(CheckpointError, match='SHA-256'):
        fetch_openai_checkpoint('ViT-B/16', download=False)


def test_unknown_backbone_names_list_valid_ones():
    with pytest.raises(CheckpointError, match='ViT-B-16'):
        CLIPBackbone(name='ViT-Q/99', pretrained='openai', download=False)
    with pytest.raises(CheckpointError, match='valid tags'):
        CLIPBackbone(name='ViT-B-16', pretrained='no_such_tag', download=False)


@pytest.mark.parametrize('dtype, fmt', [(torch.float32, 'state_dict'), (torch.float16, 'state_dict'),
                                        (torch.float16, 'torchscript')])
def test_meta_built_clip_equals_open_clips_loader(tmp_path, dtype, fmt):
    """Built on the meta device with the weights assigned: every tensor (fp16 rounding of the matmul weights
    included), the causal mask and the outputs are those of open_clip's loader followed by ``.float()``."""
    from open_clip.model import build_model_from_openai_state_dict

    from sclip_toolkit.models.clip import build_clip_from_state_dict

    path = write_random_clip(tmp_path / 'w.pt', dtype=dtype, fmt=fmt)
    state = load_state_dict(path)
    old = build_model_from_openai_state_dict(dict(state), quick_gelu=True, cast_dtype=None).float().eval()
    new = build_clip_from_state_dict(state)
    assert not new.training and all(p.requires_grad for p in new.parameters())
    a, b = old.state_dict(), new.state_dict()
    assert a.keys() == b.keys()
    assert all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(old.attn_mask, new.attn_mask) and not new.attn_mask.is_meta
    if dtype == torch.float32:  # the loader rounds the matmul weights through fp16 even from an fp32 file
        assert not torch.equal(b['visual.proj'], state['visual.proj'])
    images, tokens = torch.randn(2, 3, 64, 64), torch.randint(1, 49407, (2, 77))
    with torch.no_grad():
        assert torch.equal(old.encode_image(images), new.encode_image(images))
        assert torch.equal(old.encode_text(tokens), new.encode_text(tokens))


def test_meta_built_clip_owns_its_memory(tmp_path):
    """The weights do not live in the memory-mapped file: rewriting it in place leaves the model unchanged."""
    path = write_random_clip(tmp_path / 'w.pt')
    model = CLIPBackbone(checkpoint=str(path))
    before = {k: v.clone() for k, v in model.model.state_dict().items()}
    write_random_clip(path, seed=1)  # torch.save truncates and rewrites the same file
    assert all(torch.equal(before[k], v) for k, v in model.model.state_dict().items())


def test_checkpoint_file_loads_as_the_configured_models_loader(tmp_path):
    """``checkpoint=FILE`` follows the config's model: OpenAI weights as OpenAI's loader (matmul weights rounded to
    fp16), open_clip tags as open_clip's ``load_checkpoint`` (every tensor exact; CorrCLIP's MetaCLIP)."""
    import open_clip
    from open_clip.model import build_model_from_openai_state_dict

    from sclip_toolkit.models.checkpoint import build_clip_from_state_dict, checkpoint_semantics, file_fingerprint

    path = write_random_clip(tmp_path / 'w.pt', dtype=torch.float32)
    state = load_state_dict(path)
    rounded = CLIPBackbone(name='ViT-B/16', pretrained='openai', checkpoint=str(path), download=False)
    exact = CLIPBackbone(name='ViT-B-16-quickgelu', pretrained='metaclip_fullcc', checkpoint=str(path),
                         download=False)
    loaded_r, loaded_e = rounded.model.state_dict(), exact.model.state_dict()
    assert all(torch.equal(loaded_e[k], v) for k, v in state.items())  # exact, bit for bit
    assert not torch.equal(loaded_r['visual.proj'], state['visual.proj'])
    assert torch.equal(loaded_r['visual.proj'], state['visual.proj'].half().float())
    assert torch.equal(loaded_r['visual.class_embedding'], state['visual.class_embedding'])  # not a matmul weight
    # open_clip's own loader into an fp32 model of the same architecture gives the same model
    reference = build_model_from_openai_state_dict(dict(state), quick_gelu=True, cast_dtype=None).float().eval()
    open_clip.load_checkpoint(reference, str(path))
    expected = reference.state_dict()
    assert expected.keys() == loaded_e.keys() and all(torch.equal(v, loaded_e[k]) for k, v in expected.items())
    built = build_clip_from_state_dict(state, *checkpoint_semantics('ViT-B-16-quickgelu', 'metaclip_fullcc'))
    images, tokens = torch.randn(2, 3, 64, 64), torch.randint(1, 49407, (2, 77))
    with torch.no_grad():
        assert torch.equal(reference.encode_image(images), built.encode_image(images))
        assert torch.equal(reference.encode_text(tokens), built.encode_text(tokens))
        assert not torch.equal(reference.encode_image(images), rounded.model.encode_image(images))
    # the ids differ, so text-embedding caches and saved predictions never mix the two
    fingerprint = file_fingerprint(path)
    assert (rounded.checkpoint_id, exact.checkpoint_id) == (f'file:{fingerprint}', f'file:{fingerprint}:exact')
    # open_clip architectures keep their activation: GELU for ViT-B-16, QuickGELU for the -quickgelu names
    assert checkpoint_semantics('ViT-B/16', None) == (True, True)
    assert checkpoint_semantics('ViT-B-16', 'laion2b_s34b_b88k') == (False, False)
    assert checkpoint_semantics('ViT-B-16-quickgelu', 'metaclip_fullcc') == (False, True)
    gelu = CLIPBackbone(name='ViT-B-16', pretrained='laion2b_s34b_b88k', checkpoint=str(path), download=False)
    assert gelu.checkpoint_id.endswith(':exact:gelu')
    assert type(gelu.visual.transformer.resblocks[0].mlp.gelu) is torch.nn.GELU
    assert type(exact.visual.transformer.resblocks[0].mlp.gelu).__name__ == 'QuickGELU'
