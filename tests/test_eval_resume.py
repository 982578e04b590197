"""Evaluation failures and resuming: a bad image names itself, saved predictions are reused, runs are repeatable."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_eval import ROOT, env  # noqa: F401  (the module-scoped fixture with tiny VOC/ADE layouts)

pytestmark = pytest.mark.slow


def _eval(env, data: Path, work_dir: Path, preds: Path, *extra: str) -> subprocess.CompletedProcess:  # noqa: F811
    cmd = [sys.executable, 'eval.py', '--config', 'sclip_voc21', '--work-dir', str(work_dir), '--save-preds',
           str(preds)] + env['options'] + ['model.inference.crop_size=32', 'model.inference.stride=16', *extra]
    return subprocess.run(cmd, cwd=ROOT, env=dict(env['env'], SCLIP_DATA=str(data)), capture_output=True, text=True,
                          timeout=300)


def _voc_images(data: Path):
    voc = data / 'VOCdevkit' / 'VOC2012'
    stems = (voc / 'ImageSets' / 'Segmentation' / 'val.txt').read_text().split()
    return [voc / 'JPEGImages' / f'{s}.jpg' for s in stems]


def test_failing_image_is_named_and_the_run_resumes(env, tmp_path):  # noqa: F811
    data = tmp_path / 'data'
    shutil.copytree(env['base'] / 'data', data)
    first, second = _voc_images(data)
    good_bytes = second.read_bytes()
    second.write_bytes(good_bytes[:len(good_bytes) // 2])  # a truncated download
    preds = tmp_path / 'preds'
    proc = _eval(env, data, tmp_path / 'w1', preds)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f'{second}: the JPEG file is truncated' in proc.stderr
    assert 'Traceback' not in proc.stderr
    saved = sorted(p for p in preds.glob('*.png'))
    assert len(saved) == 1 and saved[0].name.startswith(first.stem)  # the image before it was kept
    mtime = saved[0].stat().st_mtime_ns

    second.write_bytes(good_bytes)  # fixed: run the same command again
    proc = _eval(env, data, tmp_path / 'w2', preds)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f'predictions: 1 reused from {preds}, 1 computed and saved there' in proc.stderr
    assert len(list(preds.glob('*.png'))) == 2
    assert saved[0].stat().st_mtime_ns == mtime  # not recomputed
    resumed = json.loads((tmp_path / 'w2' / 'metrics.json').read_text())

    fresh = _eval(env, data, tmp_path / 'w3', tmp_path / 'preds_fresh')
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    again = json.loads((tmp_path / 'w3' / 'metrics.json').read_text())
    assert {k: resumed[k] for k in ('mIoU', 'aAcc', 'mAcc', 'per_class')} == \
        {k: again[k] for k in ('mIoU', 'aAcc', 'mAcc', 'per_class')}


def test_two_cpu_runs_are_bitwise_identical(env, tmp_path):  # noqa: F811
    data = env['base'] / 'data'
    for run in ('a', 'b'):
        proc = _eval(env, data, tmp_path / f'w{run}', tmp_path / f'p{run}')
        assert proc.returncode == 0, proc.stderr[-2000:]
    files_a, files_b = sorted((tmp_path / 'pa').glob('*.png')), sorted((tmp_path / 'pb').glob('*.png'))
    assert [f.name for f in files_a] == [f.name for f in files_b] and len(files_a) == 2
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(files_a, files_b))
    ma, mb = (json.loads((tmp_path / f'w{r}' / 'metrics.json').read_text()) for r in 'ab')
    for key in ('mIoU', 'aAcc', 'mAcc', 'per_class'):
        assert ma[key] == mb[key]


def test_prediction_folder_of_other_settings_is_refused(env, tmp_path):  # noqa: F811
    data = env['base'] / 'data'
    preds = tmp_path / 'preds'
    assert _eval(env, data, tmp_path / 'w1', preds).returncode == 0
    proc = _eval(env, data, tmp_path / 'w2', preds, 'model.logit_scale=10')
    assert proc.returncode == 2
    line = [x for x in proc.stderr.splitlines() if 'error' in x]
    assert len(line) == 1 and len(line[0]) < 300, proc.stderr
    assert f'{preds} holds predictions made with other settings (model.logit_scale: 65 -> 10)' in line[0]


def test_stale_predictions_are_never_reused(env, tmp_path):  # noqa: F811
    """Issue 22, case 2: an edited template file refuses the folder; images replaced under the same names are
    recomputed, and the metrics equal a fresh run's."""
    data = tmp_path / 'data'
    shutil.copytree(env['base'] / 'data', data)
    templates = tmp_path / 'templates.txt'
    templates.write_text('a photo of a {}.\n')
    preds, option = tmp_path / 'preds', f'model.text_encoder.templates={templates}'
    assert _eval(env, data, tmp_path / 'w1', preds, option).returncode == 0
    templates.write_text('a photo of a {}.\nthere is a {} in the scene.\n')
    proc = _eval(env, data, tmp_path / 'w2', preds, option)
    assert proc.returncode == 2 and f'file {templates.resolve()}: its contents changed' in proc.stderr, proc.stderr

    templates.write_text('a photo of a {}.\n')  # as before: the folder is accepted again
    first, second = _voc_images(data)
    first.write_bytes(second.read_bytes())  # another picture under the same name
    proc = _eval(env, data, tmp_path / 'w3', preds, option)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (f'predictions: 1 reused from {preds}, 1 computed and saved there (1 of them because their image changed '
            f'since it was saved)') in proc.stderr
    fresh = _eval(env, data, tmp_path / 'w4', tmp_path / 'fresh', option)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    resumed, again = (json.loads((tmp_path / w / 'metrics.json').read_text()) for w in ('w3', 'w4'))
    assert {k: resumed[k] for k in ('mIoU', 'aAcc', 'mAcc', 'per_class')} == \
        {k: again[k] for k in ('mIoU', 'aAcc', 'mAcc', 'per_class')}
