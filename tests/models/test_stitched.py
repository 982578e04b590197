"""Stitched inference: placement and averaging, the one-window invariant for every stitchable variant (parametrized
over the registry), variants that cannot stitch, padding, and batches."""
from __future__ import annotations

import pytest
import torch
from mmseg.registry import MODELS

from sclip_toolkit.exceptions import ConfigError
from sclip_toolkit.models import CLIPBackbone, RegionMap, SlideInference, StitchedInference
from sclip_toolkit.models.attention import attention_variants, build_attention
from sclip_toolkit.models.inference import slide_windows
from sclip_toolkit.models.inference.stitched import Placement
from sclip_toolkit.models.text import ClassEmbeddings
from sclip_toolkit.testing import write_random_vfm

VARIANTS = sorted(attention_variants())


def _variant(backbone, name):
    settings = attention_variants()[name].settings_for(backbone.visual.conv1.out_channels, backbone.num_blocks)
    return build_attention(dict(type=name, **settings))


def _stitchable(name):
    return not build_attention(name).unstitchable_reason()


@pytest.fixture(scope='module', params=['block', 'features'])
def backbone(request, tiny_clip_path, tmp_path_factory):
    """The tiny CLIP with a tiny DINO (OV-Stitcher's recomputed last block, or its normalised last features)."""
    dino = write_random_vfm(tmp_path_factory.mktemp('vfm') / 'dino.pth', 'dino')
    return CLIPBackbone(checkpoint=str(tiny_clip_path),
                        vfm=dict(type='VFMFeatures', family='dino', checkpoint=str(dino), output=request.param))


def _text(backbone, num_names: int = 3) -> torch.Tensor:
    torch.manual_seed(11)
    return torch.nn.functional.normalize(torch.randn(num_names, backbone.visual.proj.shape[1]), dim=-1)


def _regions(h, w, seed=3):
    """A region map with a few blocks, some ids repeated apart, and unsegmented pixels (id 0)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 5, (h // 16 + 1, w // 16 + 1), generator=g) * 7
    return RegionMap(ids.repeat_interleave(16, 0).repeat_interleave(16, 1)[:h, :w])


def _logits(backbone, inference, name, image, regions=None):
    backbone.final_attn = _variant(backbone, name)
    emb = ClassEmbeddings(_text(backbone), torch.arange(3), 3)
    with torch.no_grad():
        crops = inference.encode(backbone, image, text=emb, regions=regions)
        return inference.decode(crops, emb.names, tuple(image.shape[-2:]))


# ---------------------------------------------------------------------------------------------- placement
def test_placement_puts_each_window_at_its_pixel_offset_and_averages_overlaps():
    boxes = slide_windows(48, 80, (32, 32), (16, 16))  # x: 0, 16, 32, 48; y: 0, 16
    place = Placement(boxes, (4, 4), 8)
    assert place.grid == (6, 10) and place.offsets[:3] == [(0, 0), (0, 2), (0, 4)]
    tokens = torch.stack([torch.full((16, 1), float(i)) for i in range(len(boxes))])
    out = place.stitch(tokens).view(6, 10)
    assert out[0, 0] == 0 and out[0, 2] == 0.5 and out[5, 9] == len(boxes) - 1  # cell (0, 2): windows 0 and 1
    assert place.count[2:4, 2:4].eq(4).all()


def test_placement_of_a_window_not_on_the_patch_grid_floors_its_offset():
    """The last window ends at the border (x1 = 85 - 32 = 53): its grid starts at cell 53 // 8 = 6, so the image's
    grid is 85 // 8 = 10 wide, as the reference stitches it."""
    boxes = slide_windows(32, 85, (32, 32), (16, 16))
    place = Placement(boxes, (4, 4), 8)
    assert boxes[-1][2] == 53 and place.offsets[-1] == (0, 6) and place.grid == (4, 10)


def test_placement_refuses_windows_that_leave_cells_uncovered():
    with pytest.raises(ValueError, match='uncovered'):
        Placement([(0, 16, 0, 16), (0, 16, 40, 56)], (2, 2), 8)


# ---------------------------------------------------------------------------------------------- invariants
@pytest.mark.parametrize('name', [n for n in VARIANTS if _stitchable(n)])
@pytest.mark.parametrize('size, pad', [((64, 96), None), ((56, 88), 'patch')])
def test_an_image_that_fits_one_window_gives_the_same_output_stitched_or_not(backbone, name, size, pad):
    """With one window the stitched grid is the window's grid: every stitchable variant gives the per-window
    result (padded windows included)."""
    torch.manual_seed(4)
    image = torch.randn(1, 3, *size)
    regions = _regions(*size)
    slide = SlideInference(crop_size=(64, 96), stride=(32, 48), pad_multiple=pad)
    stitched = StitchedInference(crop_size=(64, 96), stride=(32, 48), pad_multiple=pad)
    ours = _logits(backbone, stitched, name, image, regions)
    ref = _logits(backbone, slide, name, image, regions)
    torch.testing.assert_close(ours, ref, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize('name', [n for n in VARIANTS if _stitchable(n) and n != 'maskclip'])
def test_stitched_windows_see_the_whole_image(backbone, name):
    """Several windows: the output is finite, and a change in one corner reaches the far corner (global
    attention), which per-window inference cannot do when no window holds both corners. (MaskCLIP's last block
    mixes no tokens, so it has no global context to gain.)"""
    torch.manual_seed(6)
    image = torch.randn(1, 3, 64, 160)
    other = image.clone()
    other[..., :32, :32] = torch.randn(1, 3, 32, 32)
    inference = StitchedInference(crop_size=64, stride=32)
    a = _logits(backbone, inference, name, image, _regions(64, 160))
    b = _logits(backbone, inference, name, other, _regions(64, 160))
    assert torch.isfinite(a).all() and a.shape == (1, 3, 64, 160)
    assert (a[..., -16:, -16:] - b[..., -16:, -16:]).abs().max() > 0


@pytest.mark.parametrize('name', [n for n in VARIANTS if not _stitchable(n)])
def test_variants_that_cannot_stitch_say_why(backbone, name):
    with pytest.raises(ConfigError, match='cannot run stitched .*SlideInference'):
        _logits(backbone, StitchedInference(crop_size=64, stride=32), name, torch.randn(1, 3, 64, 96))


def test_stitching_is_registered_and_checks_its_settings():
    assert MODELS.get('StitchedInference') is StitchedInference
    with pytest.raises(ValueError, match='stride <= crop_size'):
        StitchedInference(crop_size=64, stride=96)


# ---------------------------------------------------------------------------------------------- memory
@pytest.mark.parametrize('name', [n for n in VARIANTS if _stitchable(n) and n != 'maskclip'])
def test_whole_image_attention_in_row_chunks_gives_the_same_output(backbone, name, monkeypatch):
    """Every whole-image attention (the variant's, the VFM's last block, the spatial branch, the scope) computed a
    few rows at a time, as it is beyond MAX_ATTENTION_BYTES: the same logits and labels as the whole matrices."""
    from sclip_toolkit.models.attention import chunks

    torch.manual_seed(7)
    image = torch.randn(1, 3, 64, 160)
    inference = StitchedInference(crop_size=64, stride=32)
    whole = _logits(backbone, inference, name, image, _regions(64, 160))
    # no whole-image matrix fits (the smallest, CLIP's 41 x 41 tokens, takes 6.7 kB): every one goes in chunks
    monkeypatch.setattr(chunks, 'MAX_ATTENTION_BYTES', 4000)
    chunked = _logits(backbone, inference, name, image, _regions(64, 160))
    torch.testing.assert_close(chunked, whole, atol=2e-6, rtol=1e-5)
    assert torch.equal(chunked.argmax(dim=1), whole.argmax(dim=1))


# ---------------------------------------------------------------------------------------------- batches
def test_a_batch_gives_each_image_its_single_image_result(tiny_clip_path, tmp_path):
    """The reference handles one image per batch; here images of different sizes in one batch each get the
    result they get alone."""
    import cv2
    import numpy as np

    from sclip_toolkit.apis import build_segmentor, run_segmentor
    from sclip_toolkit.apis.pipeline import prepare_inputs
    from sclip_toolkit.config import load_config
    dino = write_random_vfm(tmp_path / 'dino.pth', 'dino')
    cfg = load_config('configs/ovstitcher/ovstitcher_voc21.py', checkpoint=str(tiny_clip_path),
                      vfm_checkpoint=str(dino),
                      cfg_options={'model.data_preprocessor.short_side': 96, 'model.inference.crop_size': 64,
                                   'model.inference.stride': 32, 'model.text_encoder.templates': ['a {}.'],
                                   'model.region_generator': dict(type='GridRegions', cell=24)})
    cfg.model.keep_scores = True
    model = build_segmentor(cfg, 'cpu')
    rng = np.random.RandomState(0)
    paths = []
    for i, (h, w) in enumerate([(70, 110), (120, 80), (70, 110)]):
        paths.append(str(tmp_path / f'{i}.png'))
        cv2.imwrite(paths[-1], rng.randint(0, 255, (h, w, 3), dtype=np.uint8))
    single = [run_segmentor(model, cfg, [p])[0] for p in paths]
    inputs = [prepare_inputs(cfg, p) for p in paths]
    batch = model.data_preprocessor({'inputs': [i['inputs'] for i in inputs],
                                     'data_samples': [i['data_samples'] for i in inputs]})
    both = model.predict(batch['inputs'], batch['data_samples'])
    for a, b in zip(single, both):
        assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)
        torch.testing.assert_close(a.seg_logits.data, b.seg_logits.data)


@pytest.mark.slow
@pytest.mark.parametrize('method', ['ovstitcher', 'proxyclip', 'naclip', 'scclip'])
def test_large_stitched_image_stays_within_the_api_bound(tiny_clip_path, tmp_path, method):
    """A 896x1195 network input stitched whole (16.7k DINO tokens, 4.2k CLIP tokens): the whole-image attentions go
    in row chunks, so one image's extra memory stays far below the API's 2 GB (the (N, N) matrices alone would take
    2.2 GB per DINO head, 4.4 GB for ProxyCLIP's attention)."""
    import numpy as np

    from sclip_toolkit.apis import Segmenter
    from sclip_toolkit.bench.profiling import exact_cpu_memory_accounting, peak_memory

    exact_cpu_memory_accounting()
    vfm = method in ('ovstitcher', 'proxyclip')
    options = {'model.data_preprocessor.short_side': 896, 'model.text_encoder.templates': ['a photo of a {}.']}
    if method == 'ovstitcher':
        options['model.region_generator'] = dict(type='GridRegions', cell=64)
    dino = write_random_vfm(tmp_path / 'dino.pth', 'dino') if vfm else None
    seg = Segmenter(method, checkpoint=str(tiny_clip_path), vfm_checkpoint=dino and str(dino), device='cpu',
                    cfg_options=options)
    if method != 'ovstitcher':
        slide = seg.model.inference
        seg.model.inference = StitchedInference(slide.crop_size, slide.stride, batch_size=slide.batch_size)
    rgb = np.random.RandomState(0).randint(0, 256, (896, 1195, 3), dtype=np.uint8)
    seg(rgb[:64, :64], 'sky; tree; road; car; person')  # warm-up: text embeddings
    mem = {}
    with peak_memory(torch.device('cpu'), mem):
        result = seg(rgb)
    assert result.labels.shape == (896, 1195) and result.labels.max() < 5
    assert mem['peak'] < 1 << 30, mem
