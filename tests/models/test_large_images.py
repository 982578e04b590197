"""The large-image label path: row bands at the original size give the dense path's labels within a memory bound."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmseg.structures import SegDataSample

from sclip_toolkit.apis import build_segmentor
from sclip_toolkit.config import load_config
from sclip_toolkit.models.scoring.banding import needed_rows, resize_rows, row_bands
from sclip_toolkit.models.postprocess.pamr import banded_affinity, pamr_affinity
from sclip_toolkit.bench.profiling import exact_cpu_memory_accounting, peak_memory

BASE_METHODS = ['sclip', 'naclip', 'clearclip', 'scclip', 'vanilla', 'maskclip']
CLASSES = [['sky', 'cloud'], ['tree'], ['person', 'man'], ['road'], ['car']]


@pytest.mark.parametrize('sizes', [(14, 14, 224, 224), (37, 23, 375, 500), (21, 17, 1001, 77), (336, 448, 997, 1333),
                                   (5, 7, 5, 30), (9, 8, 9, 8)])
@pytest.mark.parametrize('band', [1, 7, 64])
def test_resize_rows_equals_interpolate_when_upscaling(sizes, band):
    """Upscaling (every large image): the bands reproduce F.interpolate exactly, odd sizes included."""
    h, w, height, width = sizes
    x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(h * w))
    ref = F.interpolate(x, size=(height, width), mode='bilinear', align_corners=False)
    out = torch.cat([resize_rows(x, (height, width), rows) for rows in row_bands(height, band)], dim=2)
    assert torch.equal(out, ref)


@pytest.mark.parametrize('sizes', [(100, 90, 33, 41), (64, 64, 17, 50), (3, 4, 7, 8)])
def test_resize_rows_close_to_interpolate_otherwise(sizes):
    """Downscaling or tiny widths: PyTorch's kernel rounds its remainder loop differently; within an ulp or two."""
    h, w, height, width = sizes
    x = torch.randn(1, 4, h, w, generator=torch.Generator().manual_seed(1))
    ref = F.interpolate(x, size=(height, width), mode='bilinear', align_corners=False)
    out = torch.cat([resize_rows(x, (height, width), rows) for rows in row_bands(height, 5)], dim=2)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)


def test_needed_rows_are_few():
    assert needed_rows(336, 10000, (5000, 5030)) in [(167, 170), (167, 169), (168, 170)]
    assert needed_rows(10, 10, (3, 5)) == (3, 5)


def test_banded_affinity_equals_pamr_affinity():
    image = torch.randn(1, 3, 600, 300, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(banded_affinity(image, (8, 16), 256), pamr_affinity(image, (8, 16)), atol=1e-7,
                               rtol=0)


def _model(tiny_clip_path, method, post_process=None):
    cfg = load_config(f'configs/_base_/methods/{method}.py', checkpoint=str(tiny_clip_path))
    cfg.model.text_encoder.class_names = CLASSES
    cfg.model.text_encoder.templates = ['a photo of a {}.']
    if post_process is not None:
        cfg.model.post_process = post_process
    return build_segmentor(cfg, 'cpu')


def _predict(model, image, ori_shape):
    meta = dict(ori_shape=ori_shape, img_shape=tuple(image.shape[-2:]), pad_shape=tuple(image.shape[-2:]))
    return model.predict(image, [SegDataSample(metainfo=meta)])[0]


@pytest.mark.parametrize('method', BASE_METHODS)
def test_banded_labels_equal_dense_labels_for_every_method(tiny_clip_path, method):
    """Each shipped method base (NACLIP's PAMR included, banded with its halo) on a 4x upscale of the input."""
    model = _model(tiny_clip_path, method)
    image = torch.randn(1, 3, 56, 84, generator=torch.Generator().manual_seed(3))
    ori = (231, 337)
    model.keep_scores = True
    dense = _predict(model, image, ori)
    model.keep_scores, model.max_score_bytes = None, 300_000  # neither the scores nor the running max fit
    assert model.label_path(ori) == 'banded' and model.band_rows(ori) < ori[0]
    banded = _predict(model, image, ori)
    assert 'seg_logits' not in banded and banded.pred_sem_seg.data.dtype == torch.uint8
    assert torch.equal(banded.pred_sem_seg.data.long(), dense.pred_sem_seg.data)
    # the per-class sums of the labelled class's score match the dense scores'
    labels = dense.pred_sem_seg.data[0]
    chosen = dense.seg_logits.data.gather(0, labels[None])[0].double()
    ref = torch.bincount(labels.flatten(), weights=chosen.flatten(), minlength=len(CLASSES))
    torch.testing.assert_close(banded.label_score_sums, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('steps', [
    [dict(type='PAMR', steps=3, dilations=(1, 2)), dict(type='AreaThreshold', threshold=0.3),
     dict(type='ProbThreshold', threshold=0.21)],
    [dict(type='ProbThreshold', threshold=0.22), dict(type='Renormalize')]])
def test_banded_thresholds_equal_dense(tiny_clip_path, steps):
    """AreaThreshold counts over every band first; ProbThreshold and Renormalize act per band."""
    model = _model(tiny_clip_path, 'sclip', steps)
    image = torch.randn(1, 3, 48, 64, generator=torch.Generator().manual_seed(4))
    ori = (150, 203)
    model.keep_scores = True
    dense = _predict(model, image, ori)
    model.keep_scores, model.max_score_bytes = None, 150_000
    assert model.label_path(ori) == 'banded'
    assert torch.equal(_predict(model, image, ori).pred_sem_seg.data.long(), dense.pred_sem_seg.data)


def test_small_images_keep_their_path(tiny_clip_path):
    model = _model(tiny_clip_path, 'sclip')
    assert model.label_path((100, 100)) == 'dense'
    model.keep_scores = False
    assert model.label_path((100, 100)) == 'streamed'  # the running max fits: the name-chunk path, as before


def test_large_image_through_the_api_stays_under_the_bound(tiny_clip_path):
    """A 6000x4000 photo, 3 classes, through Segmenter with a 1 GiB bound: labels only, peak under the bound."""
    from sclip_toolkit.apis import Segmenter

    exact_cpu_memory_accounting()
    seg = Segmenter('sclip', checkpoint=str(tiny_clip_path), device='cpu', max_memory='1GB')
    small = np.random.RandomState(0).randint(0, 256, (40, 60, 3), dtype=np.uint8)
    rgb = np.repeat(np.repeat(small, 100, axis=0), 100, axis=1)  # 4000 x 6000, made in a blink
    seg(small, 'sky; tree; road')  # warm-up: text embeddings
    mem = {}
    with peak_memory(torch.device('cpu'), mem):
        result = seg(rgb)
    assert result.labels.shape == (4000, 6000) and result.labels.dtype == np.uint8
    assert result.scores is None and any('return_scores=True' in n for n in result.notes)
    assert mem['peak'] < 1 << 30, mem
    assert np.isfinite(result.mean_scores()[result.pixel_shares() > 0]).all()


def test_max_side_downscales_and_says_so(tiny_clip_path):
    from sclip_toolkit.apis import Segmenter
    from sclip_toolkit.apis import SegmenterError

    seg = Segmenter('sclip', checkpoint=str(tiny_clip_path), device='cpu', max_side=64)
    rgb = np.random.RandomState(1).randint(0, 256, (120, 200, 3), dtype=np.uint8)
    result = seg(rgb, 'sky; tree')
    assert result.labels.shape == (38, 64) and result.image.shape == (38, 64, 3)
    assert result.original_size == (120, 200) and 'downscaled from 200x120 to 64x38' in result.notes[0]
    assert seg(rgb, max_side=500).original_size is None  # already small enough: untouched
    with pytest.raises(SegmenterError, match='max_side must be a whole number of pixels >= 16'):
        seg(rgb, max_side=0)
    with pytest.raises(SegmenterError, match="max_memory must be a number of bytes or a size such as '2GB'"):
        Segmenter('sclip', checkpoint=str(tiny_clip_path), device='cpu', max_memory='lots')


def test_return_scores(tiny_clip_path):
    from sclip_toolkit.apis import Segmenter

    seg = Segmenter('sclip', checkpoint=str(tiny_clip_path), device='cpu', max_memory='64MB')
    rgb = np.random.RandomState(2).randint(0, 256, (1200, 1500, 3), dtype=np.uint8)
    lean = seg(rgb, 'sky; tree; road; car')  # 4 x 1.8 MP x 4 bytes > 64MB / 4: labels only
    assert lean.scores is None
    full = seg(rgb, return_scores=True)
    assert full.scores.shape == (4, 1200, 1500)
    np.testing.assert_array_equal(lean.labels, full.labels)
    np.testing.assert_allclose(lean.mean_scores(), full.mean_scores(), rtol=1e-5)
    assert seg(rgb[:100, :100], return_scores=False).scores is None


def test_demo_max_side_and_max_memory(tiny_clip_path, tmp_path, capsys):
    """demo.py --max-side downscales first and says so (stderr and JSON); --max-memory errors name the option."""
    import importlib.util
    import json
    from pathlib import Path

    from PIL import Image

    spec = importlib.util.spec_from_file_location('sclip_demo', Path(__file__).resolve().parents[2] / 'demo.py')
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    Image.fromarray(np.random.RandomState(3).randint(0, 256, (100, 160, 3), dtype=np.uint8)).save(tmp_path / 'a.png')
    argv = ['--image', str(tmp_path / 'a.png'), '--classes', 'sky; tree', '--checkpoint', str(tiny_clip_path),
            '--device', 'cpu', '--quiet', '--out', str(tmp_path / 'out')]
    assert demo.main(argv + ['--max-side', '80', '--max-memory', '512MB']) == 0
    err = capsys.readouterr().err
    assert 'downscaled' in err and 'from 160x100 to 80x50 (--max-side 80)' in err
    summary = json.loads((tmp_path / 'out' / 'a_sclip.json').read_text())
    assert summary['size'] == dict(width=80, height=50)
    assert summary['downscaled_from'] == dict(width=160, height=100, max_side=80)
    assert Image.open(tmp_path / 'out' / 'a_sclip_labels.png').size == (80, 50)
    assert demo.main(argv + ['--max-memory', 'lots']) == 2
    assert '--max-memory must be a number of bytes' in capsys.readouterr().err


def test_pamr_memory_counts_in_the_api_choice(tiny_clip_path):
    """NACLIP's PAMR needs about 1 KiB per pixel over a whole map: the API bands it where the dense path would not
    fit, with the labels that return_scores=True gives."""
    from sclip_toolkit.apis import Segmenter

    seg = Segmenter('naclip', checkpoint=str(tiny_clip_path), device='cpu', max_memory='64MB',
                    cfg_options={'model.text_encoder.templates': 'single'})
    rgb = np.random.RandomState(4).randint(0, 256, (300, 400, 3), dtype=np.uint8)
    assert seg.model.dense_bytes((300, 400)) > seg.max_memory // 2
    lean = seg(rgb, 'sky; tree')
    full = seg(rgb, return_scores=True)
    assert lean.scores is None and full.scores is not None
    np.testing.assert_array_equal(lean.labels, full.labels)


@pytest.mark.parametrize('method, image_shape', [('sclip', (70, 300)), ('naclip', (64, 200)), ('vanilla', (48, 96)),
                                                 ('clearclip', (50, 90))])
def test_source_rows_equal_slices_of_the_source(tiny_clip_path, method, image_shape):
    """Slide windows (only those covering the rows, in small groups) and whole images (upsampled for those rows
    only, padded or not): the rows of the map before the last resize, as the whole map gives them."""
    model = _model(tiny_clip_path, method)
    image = torch.randn(1, 3, *image_shape, generator=torch.Generator().manual_seed(5))
    crops = model.inference.encode(model.clip, image)
    names = model.class_embeddings().names
    whole = model.inference.source(crops, names, model.head)
    height = model.inference.source_size(crops)[0]
    assert whole.shape[-2:] == model.inference.source_size(crops)
    for rows in [(0, height), (0, 1), (height // 3, height // 2 + 1), (height - 2, height)]:
        part = model.inference.source_rows(crops, names, rows, model.head, max_bytes=1)  # one window at a time
        torch.testing.assert_close(part, whole[:, :, rows[0]:rows[1]], rtol=0, atol=1e-6)


def wide_input_run(checkpoint: str, method: str, post_process, bound: int) -> dict:
    """Peak memory of the banded path on 400 names and a 1:8 panorama input, and whether its labels are the dense
    path's; run in a fresh process by the test below (RSS peaks in a long test session carry other tests' heap)."""
    model = _model(checkpoint, method, post_process)
    model.text_encoder.set_vocabulary([[f'thing {i}'] for i in range(400)])
    image = torch.randn(1, 3, 64, 512, generator=torch.Generator().manual_seed(6))
    ori = (96, 768)
    model.keep_scores, model.max_score_bytes = None, bound
    model.label_path = lambda shape: 'banded'  # what a larger original size would choose (state > bound)
    _predict(model, image[..., :32, :32], (32, 32))  # text embeddings and first-call allocations
    exact_cpu_memory_accounting()
    mem = {}
    with peak_memory(torch.device('cpu'), mem):
        banded = _predict(model, image, ori)
    del model.label_path
    model.keep_scores = True
    dense = _predict(model, image, ori)
    differ = banded.pred_sem_seg.data.long() != dense.pred_sem_seg.data
    # Names are decoded in chunks on the banded path, so a matmul over fewer names may round a score one ulp
    # away from the dense path's: only pixels whose two best dense scores are tied to float noise may differ.
    top2 = dense.seg_logits.data.topk(2, dim=0).values
    tied = (top2[0] - top2[1]) <= 1e-6 * top2[0].abs().clamp_min(1e-6)
    return dict(peak=mem['peak'], chunk=model.band_plan(ori)[1], differ=int(differ.sum()),
                equal=bool(not (differ & ~tied).any()))


@pytest.mark.parametrize('method, post_process, bound', [
    ('sclip', None, 16 << 20), ('naclip', [dict(type='PAMR', steps=2, dilations=(1, 2))], 32 << 20)])
def test_many_names_on_a_wide_input_stay_under_the_bound(tiny_clip_path, method, post_process, bound):
    """400 names on a 1:8 panorama input: the map before the last resize (400 x 64 x 512 floats, 52 MB) is decoded
    in blocks of rows, and PAMR runs on chunks of names with its halo, so the banded path stays near its bound and
    its labels are the dense path's."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    code = ('import json; from tests.models.test_large_images import wide_input_run; '
            f'print(json.dumps(wide_input_run({str(tiny_clip_path)!r}, {method!r}, {post_process!r}, {bound})))')
    out = subprocess.run([sys.executable, '-c', code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, check=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    assert res['equal'], res  # equal labels, except where the dense path's two best scores are tied
    assert res['differ'] <= 4, res
    assert res['chunk'] < 400 if post_process else res['chunk'] == 400  # PAMR's names in chunks
    assert res['peak'] < 4 * bound, res  # the source block, window logits and a band's temporaries: 3 x bound


def test_region_vote_on_the_large_image_path(tiny_clip_path, tmp_path):
    """OV-Stitcher (and CorrCLIP) end with RegionVote, which the large-image path once refused mid-run ('a step read
    the whole score map'): votes are counted over every band, then applied band by band, with the dense labels."""
    from sclip_toolkit.apis import Segmenter
    from sclip_toolkit.testing import write_random_vfm

    dino = write_random_vfm(tmp_path / 'dino.pth', 'dino')
    seg = Segmenter('ovstitcher', checkpoint=str(tiny_clip_path), vfm_checkpoint=str(dino), device='cpu',
                    max_memory='64MB', cfg_options={'model.region_generator': dict(type='GridRegions', cell=90),
                                                   'model.text_encoder.templates': ['a photo of a {}.'],
                                                   'model.data_preprocessor.short_side': 64})
    assert [type(s).__name__ for s in seg.model.post_process][-1] == 'RegionVote'
    rgb = np.random.RandomState(5).randint(0, 256, (1200, 1500, 3), dtype=np.uint8)
    lean = seg(rgb, 'sky; tree; road; car')
    assert lean.scores is None
    full = seg(rgb, return_scores=True)
    np.testing.assert_array_equal(lean.labels, full.labels)
