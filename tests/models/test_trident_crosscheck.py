"""Trident parity: our composition against Trident's own code (YuHengsss/Trident@a93b346) on the same random weights.

tests/data/crosscheck_trident/ holds the reference's outputs (cases.json says how they were made): CLIP =
../shared/parity/mini_clip.pt through Trident's OpenAI loader (fp16-rounded weights), DINO =
mini_vfm_dino_vitt16.pt, SAM = a random ViT-B from segment-anything's builder with seed 0 and perturbed position
tables (:func:`sclip_toolkit.testing.random_sam`), CPU, fp32; the default path on three sizes and an image of flat
regions, the Cityscapes halves, and the SAM-refinement path with lowered thresholds.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ..conftest import parity_fixture

DATA = Path(__file__).resolve().parents[1] / 'data' / 'crosscheck_trident'
CASES = json.loads((DATA / 'cases.json').read_text())
ROOT = Path(__file__).resolve().parents[2]
ATOL, MIN_AGREE = 1e-5, 0.999


def sub_grid(n: int, stride: int = 8) -> list:
    return sorted(set(range(0, n, stride)) | {n - 1})


def write_input(case, folder: Path) -> Path:
    kind, h, w, seed = case['image']
    if kind == 'shared':
        return parity_fixture(f'inputs/img_{h}x{w}.png')
    if kind == 'regions':
        return DATA / case['input']
    rgb = np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8)
    path = folder / f'{kind}_{h}x{w}_s{seed}.png'
    cv2.imwrite(str(path), rgb[:, :, ::-1])
    return path


@pytest.fixture(scope='module')
def sam():
    pytest.importorskip('segment_anything')
    from sclip_toolkit.testing import random_sam
    return random_sam('vit_b', seed=0)


def build(case, sam):
    from sclip_toolkit.apis import build_segmentor
    from sclip_toolkit.config import load_config
    cfg = load_config(str(ROOT / case['config']), checkpoint=str(parity_fixture('mini_clip.pt')),
                      vfm_checkpoint=str(parity_fixture('mini_vfm_dino_vitt16.pt')),
                      sam_refine=case['refine'], cfg_options=case['cfg_options'])
    cfg.model.keep_scores = True
    cfg.model.inference.affinity.model = sam
    if case['refine']:
        cfg.model.post_process[-1].model = sam
    return cfg, build_segmentor(cfg, 'cpu')


def test_fixture_files_match_their_description():
    assert CASES['reference']['commit'].startswith('a93b346')
    for case in CASES['cases']:
        ref = np.load(DATA / f'{case["name"]}_seg_logits_sub8.npy')
        h, w = case['height'], case['width']
        assert ref.shape == (case['classes'], len(sub_grid(h)), len(sub_grid(w)))
        assert (DATA / f'{case["name"]}_pred.npz').is_file()
    kinds = {c['name'].split('_')[0] for c in CASES['cases']}
    assert {'default', 'refine', 'city'} <= kinds


# ~1-3 min per case on 2 busy cores (SAM ViT-B at 1024 on the CPU, 4-21 CLIP windows)
def _param(case):
    if case['name'].startswith('city'):  # see cases.json 'known_differences'
        return pytest.param(case, marks=pytest.mark.xfail(reason='max |diff| 8.2e-5 > 1e-5: one pair of '
                                                                 'proxy-attention mask entries flips on float noise '
                                                                 '(logit +8.9e-8 vs -4.5e-7), labels 100%'))
    return case


@pytest.mark.slow
@pytest.mark.parametrize('case', [_param(c) for c in CASES['cases']], ids=lambda c: c['name'])
def test_matches_reference(case, sam, tmp_path):
    from sclip_toolkit.apis import run_segmentor
    cfg, model = build(case, sam)
    sample = run_segmentor(model, cfg, [str(write_input(case, tmp_path))])[0]
    scores = sample.seg_logits.data.float().numpy()
    labels = sample.pred_sem_seg.data[0].numpy()
    h, w = case['height'], case['width']
    assert scores.shape == (case['classes'], h, w)
    ours = scores[:, sub_grid(h)][:, :, sub_grid(w)]
    ref = np.load(DATA / f'{case["name"]}_seg_logits_sub8.npy')
    diff = np.abs(ours.astype(np.float64) - ref)
    assert diff.max() <= ATOL, f'max |diff| {diff.max():.3g} at {np.unravel_index(diff.argmax(), diff.shape)}'
    saved = np.load(DATA / f'{case["name"]}_pred.npz')
    agree = float((scores.argmax(0) == saved['argmax']).mean())
    assert agree >= MIN_AGREE, f'argmax agreement {agree:.5f}'
    same = float((labels == saved['pred']).mean())
    assert same >= MIN_AGREE, f'label agreement {same:.5f}'
