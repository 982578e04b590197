"""eval.py, dist_test.sh and tools/eval_all.py end to end on tiny generated VOC and ADE20K layouts."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sclip_toolkit.config import load_config
from sclip_toolkit.testing import free_port

from .datasets.layouts import make_layout

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # each test starts Python processes (a few seconds each)


@pytest.fixture(scope='module')
def env(tmp_path_factory, tiny_clip_path):
    """Data under $SCLIP_DATA (VOC 2012 and ADE20K layouts, 2 images each), a one-template prompt file, and the
    options that keep a run to seconds (no loader workers, short side 64, one prompt template)."""
    base = tmp_path_factory.mktemp('eval')
    data = base / 'data'
    saved = os.environ.get('SCLIP_DATA')
    os.environ['SCLIP_DATA'] = str(data)  # the configs' data_root then points into the temporary folder
    try:
        entries = [load_config(name).test_dataloader.dataset.to_dict() for name in ('sclip_voc21', 'naclip_ade20k')]
    finally:
        if saved is None:
            del os.environ['SCLIP_DATA']
        else:
            os.environ['SCLIP_DATA'] = saved
    for entry in entries:
        make_layout(Path(entry.pop('data_root')), entry)
    templates = base / 'templates.txt'
    templates.write_text('a photo of a {}.\n')
    proc_env = dict(os.environ, SCLIP_DATA=str(data), OMP_NUM_THREADS='1')  # 1 thread: same kernels in every run
    cfg_options = ['test_dataloader.num_workers=0', 'model.data_preprocessor.short_side=64',
                   f'model.text_encoder.templates={templates}']
    options = ['--checkpoint', str(tiny_clip_path), '--no-progress', '--cfg-options', *cfg_options]
    return dict(base=base, env=proc_env, options=options, checkpoint=str(tiny_clip_path), cfg_options=cfg_options)


def _run(cmd, env) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=ROOT, env=env['env'], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope='module')
def voc_run(env):
    work_dir = env['base'] / 'sclip_voc21'
    opts = env['options'] + ['model.inference.crop_size=32', 'model.inference.stride=16']
    proc = _run([sys.executable, 'eval.py', '--config', 'configs/sclip/sclip_voc21.py', '--work-dir', str(work_dir)]
                + opts, env)
    return proc, json.loads((work_dir / 'metrics.json').read_text()), opts


def _check_record(record: dict, config: str, num_classes: int, first_class: str) -> None:
    assert record['config'] == config
    assert record['num_images'] == 2 and record['num_classes'] == num_classes
    for key in ('mIoU', 'aAcc', 'mAcc'):
        assert 0.0 <= record[key] <= 100.0
    per_class = record['per_class']
    assert len(per_class) == num_classes and next(iter(per_class)) == first_class
    ious = [v['IoU'] for v in per_class.values() if v['IoU'] is not None]
    assert ious and all(0.0 <= v <= 100.0 for v in ious)
    assert abs(sum(ious) / len(ious) - record['mIoU']) < 0.01 + 1e-6  # mIoU = mean over the classes that occur


def test_eval_voc_prints_table_and_writes_metrics(voc_run):
    proc, record, _ = voc_run
    log = proc.stdout + proc.stderr
    assert 'per class results' in log and re.search(r'\|\s+aeroplane\s+\|', log) and 'tvmonitor' in log
    assert 'sclip_voc21: mIoU' in proc.stdout
    _check_record(record, 'sclip_voc21', 21, 'background')
    assert record['dataset'] == 'PascalVOCDataset' and record['world_size'] == 1


def test_eval_ade20k_with_naclip_and_show_dir(env):
    work_dir = env['base'] / 'naclip_ade20k'
    show_dir = env['base'] / 'show'
    proc = _run([sys.executable, 'eval.py', '--config', 'naclip_ade20k', '--work-dir', str(work_dir), '--show-dir',
                 str(show_dir), '--device', 'cpu'] + env['options'], env)
    images = sorted(p.stem for p in (env['base'] / 'data').rglob('images/validation/*.jpg'))
    assert sorted(p.name for p in show_dir.rglob('*.png')) == [f'{s}.png' for s in images]  # <dir>/<image name>.png
    assert f'wrote 2 pictures (image, ground truth, prediction) to {show_dir}/<image name>.png' in proc.stderr
    assert re.search(r'\|\s+wall\s+\|', proc.stdout + proc.stderr)  # the per-class table
    record = json.loads((work_dir / 'metrics.json').read_text())
    _check_record(record, 'naclip_ade20k', 150, 'wall')
    assert record['device'] == 'cpu'


def test_eval_lists_the_configs(env):
    from sclip_toolkit.config import available_configs

    proc = _run([sys.executable, 'eval.py', '--list'], env)
    assert proc.stdout.split() == available_configs()
    assert 'MESS benchmark, made on demand: <method>_mess_<dataset>' in proc.stderr and 'floodnet' in proc.stderr


@pytest.mark.parametrize('extra, message', [
    (['--cfg-options', 'model.logit_scale=banana'], "model.logit_scale: expected a number, got 'banana'"),
    (['--cfg-options', 'model.logit_scalee=0.2'], "model.logit_scalee: unknown key of OVSegmentor (did you mean "
                                               "'logit_scale'?)"),
    (['--cfg-options', 'model.logit_scale'], "--cfg-options 'model.logit_scale': expected KEY=VALUE"),
    (['--cfg-options', 'foo.bar=1'], "--cfg-options foo.bar: the config has no top-level key 'foo'"),
    (['--cfg-options', 'model.data_preprocessor.short_side=-5'], 'short_side (model.data_preprocessor.short_side) '
                                                                'must be a positive number of pixels'),
    (['--device', 'tpu'], '--device tpu: not a device; use --device cpu, cuda or cuda:N'),
    (['--config', 'sclip_voc22'], "config 'sclip_voc22' not found; closest: sclip_voc21"),
])
def test_bad_settings_are_one_line_before_any_image(env, tmp_path, extra, message):
    config = [] if '--config' in extra else ['--config', 'sclip_voc21']
    cmd = [sys.executable, 'eval.py', *config, '--work-dir', str(tmp_path), '--checkpoint', env['checkpoint'],
           '--no-progress', '--save-preds', str(tmp_path / 'preds'), *extra]
    proc = subprocess.run(cmd, cwd=ROOT, env=env['env'], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith('eval.py: error')]
    assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr
    assert not list((tmp_path / 'preds').glob('*.png'))  # no image was segmented


def test_missing_split_file_is_one_line_with_the_layout(env, tmp_path):
    data = tmp_path / 'data'
    shutil.copytree(env['base'] / 'data', data)
    split = data / 'VOCdevkit' / 'VOC2012' / 'ImageSets' / 'Segmentation' / 'val.txt'
    split.unlink()
    proc = subprocess.run([sys.executable, 'eval.py', '--config', 'sclip_voc21', '--work-dir', str(tmp_path / 'w')]
                          + env['options'], cwd=ROOT, env=dict(env['env'], SCLIP_DATA=str(data)), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f'eval.py: error: PascalVOCDataset: split file {split} not found; expected under {split.parents[2]}: '
        f'JPEGImages/*.jpg, SegmentationClass/*.png, ImageSets/Segmentation/val.txt (the image names of the split '
        f'without suffix, one per line); set $SCLIP_DATA to the folder holding the datasets, or pass --cfg-options '
        f'test_dataloader.dataset.data_root=<folder>; docs/evaluation.md shows the expected layout']


def test_dist_test_on_two_cpu_processes_matches_one_process(env, voc_run):
    _, single, opts = voc_run
    work_dir = env['base'] / 'sclip_voc21_dist'
    cmd = ['bash', 'dist_test.sh', 'configs/sclip/sclip_voc21.py', '2', '--work-dir', str(work_dir)] + opts
    for attempt in range(2):  # the free port may be taken by another program before torchrun binds it
        proc = subprocess.run(cmd, cwd=ROOT, env=dict(env['env'], PORT=str(free_port())), capture_output=True,
                              text=True, timeout=300)
        if proc.returncode == 0 or 'EADDRINUSE' not in proc.stdout + proc.stderr:
            break
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    dist = json.loads((work_dir / 'metrics.json').read_text())
    assert dist['world_size'] == 2 and single['world_size'] == 1
    for key in ('aAcc', 'mIoU', 'mAcc', 'num_images', 'per_class'):
        assert dist[key] == single[key], key


def test_eval_all_keeps_finished_rows_and_marks_failures(env, voc_run):
    from openpyxl import load_workbook

    out = env['base'] / 'eval_all'
    shutil.copytree(env['base'] / 'sclip_voc21', out / 'sclip_voc21')  # reused through --skip-existing
    cmd = [sys.executable, 'tools/eval_all.py', '--pairs', 'sclip:voc21', 'sclip:voc20', 'sclip:cityscapes',
           '--out-dir', str(out), '--skip-existing', '--checkpoint', env['checkpoint'], '--cfg-options',
           *env['cfg_options']]
    proc = subprocess.run(cmd, cwd=ROOT, env=env['env'], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # one pair failed
    voc21 = voc_run[1]['mIoU']
    voc20 = json.loads((out / 'sclip_voc20' / 'metrics.json').read_text())['mIoU']
    rows = (out / 'results.csv').read_text().splitlines()
    assert rows[0] == 'method,VOC21,VOC20,Cityscapes,avg'
    assert rows[1] == f'sclip,{voc21:.2f},{voc20:.2f},failed,{(voc21 + voc20) / 2:.2f} (2/3)'
    markdown = (out / 'results.md').read_text()
    assert '| sclip |' in markdown and 'sclip / cityscapes: failed' in markdown and 'does not exist' in markdown
    sheet = load_workbook(out / 'results.xlsx')['mIoU']
    assert [c.value for c in sheet[2]][:4] == ['sclip', voc21, voc20, 'failed']
    assert (out / 'sclip_cityscapes' / 'eval.log').is_file()

    # A later run of fewer pairs keeps every pair whose metrics.json is in the folder.
    cmd = [sys.executable, 'tools/eval_all.py', '--pairs', 'sclip:voc20', '--out-dir', str(out), '--skip-existing']
    proc = subprocess.run(cmd, cwd=ROOT, env=env['env'], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = (out / 'results.csv').read_text().splitlines()
    assert rows == ['method,VOC20,VOC21,avg', f'sclip,{voc20:.2f},{voc21:.2f},{(voc21 + voc20) / 2:.2f}']
    assert [c.value for c in load_workbook(out / 'results.xlsx')['mIoU'][2]][:3] == ['sclip', voc20, voc21]


def test_eval_all_outside_the_repository_uses_the_callers_relative_paths(env, tmp_path):
    """Issue 22, case 6: relative --out-dir, --checkpoint and $SCLIP_DATA are relative to the caller's folder."""
    cwd = env['base']
    shutil.copy(env['checkpoint'], cwd / 'clip.pt')
    proc_env = dict(env['env'], SCLIP_DATA='data')  # relative, to cwd/data
    cmd = [sys.executable, str(ROOT / 'tools' / 'eval_all.py'), '--pairs', 'sclip:voc21', '--out-dir', 'rel_out',
           '--checkpoint', 'clip.pt', '--cfg-options', *env['cfg_options']]
    proc = subprocess.run(cmd, cwd=cwd, env=proc_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'failed' not in proc.stdout and re.search(r'sclip on voc21: mIoU \d+\.\d\d', proc.stdout)
    assert (cwd / 'rel_out' / 'sclip_voc21' / 'metrics.json').is_file() and (cwd / 'rel_out' / 'results.md').is_file()
    assert not (ROOT / 'rel_out').exists()
