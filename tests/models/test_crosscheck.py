"""Cross-check with the published implementations on images other than the parity fixture's 375x500 one.

tests/data/crosscheck/ holds the references' own seg_logits (SCLIP, NACLIP with and without PAMR, ClearCLIP,
ProxyCLIP), computed on ../shared/parity's random weights, CPU, fp32, for random images of other sizes and seeds
(cases.json says how each was made and which pixel sub-grid is stored). These sizes exercise what one image cannot:
the 2048 long-side cap (120x1000 -> 246x2048), portrait sliding (500x333 -> 505x336, a height that is not a multiple
of 16), a single crop (224x224), wide strips of windows (300x700), ClearCLIP's crop padding (448x1045) and the
held-out 480x640 shape.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sclip_toolkit.apis import build_segmentor
from sclip_toolkit.config import load_config

from ..conftest import parity_fixture, segment_random_image, sub_grid
from .test_segmentor import NACLIP_VOC21_NO_PAMR

DATA = Path(__file__).resolve().parents[1] / 'data' / 'crosscheck'
CASES = json.loads((DATA / 'cases.json').read_text())
ATOL, MIN_AGREE = 1e-4, 0.999

# method -> (config, --cfg-options)
CONFIGS: dict[str, tuple[str, dict]] = {
    'sclip': ('configs/sclip/sclip_voc21.py', {}),
    'naclip': ('configs/naclip/naclip_voc21.py', {}),
    'naclip_nopamr': ('configs/naclip/naclip_voc21.py', {'model.post_process': NACLIP_VOC21_NO_PAMR}),
    'clearclip': ('configs/clearclip/clearclip_voc21.py', {}),
    'proxyclip': ('configs/proxyclip/proxyclip_voc21.py', {}),
}


@pytest.fixture(scope='module')
def segmentors():
    """One built model per method, shared by its cases (building encodes 56 queries x 80 templates)."""
    cache = {}

    def get(method: str):
        if method not in cache:
            config, options = CONFIGS[method]
            vfm = str(parity_fixture('mini_vfm_dino_vitt8.pt')) if method == 'proxyclip' else None
            cfg = load_config(config, checkpoint=str(parity_fixture('mini_clip.pt')), vfm_checkpoint=vfm,
                              cfg_options=options)
            cfg.model.keep_scores = True
            cache[method] = (cfg, build_segmentor(cfg, 'cpu'))
        return cache[method]
    return get


def test_fixture_files_match_their_description():
    """cases.json and the .npy files agree (shape = classes x stored sub-grid), so a stale file cannot pass."""
    stride = CASES['stride']
    assert {c['method'] for c in CASES['cases']} == set(CONFIGS)
    for case in CASES['cases']:
        ref = np.load(DATA / case['file'])
        assert ref.dtype == np.float32
        assert ref.shape == (21, len(sub_grid(case['height'], stride)), len(sub_grid(case['width'], stride)))
        # post-softmax class scores (max over each class's queries): in [0, 1], not all equal
        assert 0.0 <= ref.min() and ref.max() <= 1.0 and ref.std() > 1e-3


# ~2 min on 2 busy CPU cores, mostly the text classifiers (3 name sets x 80 templates) and PAMR at 480x640
@pytest.mark.slow
@pytest.mark.parametrize('case', CASES['cases'], ids=lambda c: f"{c['method']}-{c['height']}x{c['width']}")
def test_matches_reference_implementation(case, segmentors, tmp_path):
    cfg, model = segmentors(case['method'])
    h, w = case['height'], case['width']
    scores = segment_random_image(model, cfg, h, w, case['seed'], tmp_path)
    assert scores.shape == (21, h, w)
    rows, cols = sub_grid(h, CASES['stride']), sub_grid(w, CASES['stride'])
    ours = scores[:, rows][:, :, cols]
    ref = np.load(DATA / case['file'])

    diff = np.abs(ours.astype(np.float64) - ref)
    where = np.unravel_index(diff.argmax(), diff.shape)
    agree = float((ours.argmax(0) == ref.argmax(0)).mean())
    assert diff.max() < ATOL, f'max |diff| {diff.max():.3g} at class/row/col {where} (sub-grid indices)'
    assert agree >= MIN_AGREE, f'argmax agreement {agree:.5f}'
