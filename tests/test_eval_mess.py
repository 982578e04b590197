"""MESS end to end on synthetic copies: eval.py and dist_test.sh on a config made on demand, and eval_all.py --suite
mess resuming and never losing a finished column."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sclip_toolkit.testing import free_port

from .datasets.mess_layouts import make_mess_layout

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # each test starts Python processes (seconds each)


@pytest.fixture(scope='module')
def env(tmp_path_factory, tiny_clip_path):
    base = tmp_path_factory.mktemp('mess')
    for key in ('chase_db1', 'cwfid'):
        make_mess_layout(base / 'data', key)
    templates = base / 'templates.txt'
    templates.write_text('a photo of a {}.\n')
    options = ['--checkpoint', str(tiny_clip_path), '--cfg-options', 'test_dataloader.num_workers=0',
               'model.data_preprocessor.short_side=32', f'model.text_encoder.templates={templates}']
    proc_env = dict(os.environ, SCLIP_DATA=str(base / 'data'), OMP_NUM_THREADS='1')
    return dict(base=base, env=proc_env, options=options)


def _run(cmd, env, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=dict(env['env'], **extra), capture_output=True, text=True, timeout=400)


@pytest.fixture(scope='module')
def single(env):
    work_dir = env['base'] / 'single'
    proc = _run([sys.executable, 'eval.py', '--config', 'sclip_mess_chase_db1', '--work-dir', str(work_dir),
                 '--no-progress', *env['options']], env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((work_dir / 'metrics.json').read_text())


def test_eval_writes_mess_metrics(single):
    assert single['config'] == 'sclip_mess_chase_db1' and single['dataset'] == 'MESSDataset'
    assert single['num_images'] == 2 and list(single['per_class']) == ['others', 'blood vessels']
    for key in ('mIoU', 'CoI-mIoU', 'Sensitivity', 'Specificity', 'fwIoU', 'mACC', 'pACC'):
        assert 0.0 <= single[key] <= 100.0, key
    assert single['CoI-mIoU'] == single['per_class']['blood vessels']['IoU']  # the one class of interest


def test_dist_test_on_a_mess_config_matches_one_process(env, single):
    work_dir = env['base'] / 'dist'
    cmd = ['bash', 'dist_test.sh', 'sclip_mess_chase_db1', '2', '--work-dir', str(work_dir), '--no-progress',
           *env['options']]
    for _ in range(2):  # the free port may be taken before torchrun binds it
        proc = _run(cmd, env, PORT=str(free_port()))
        if proc.returncode == 0 or 'EADDRINUSE' not in proc.stdout + proc.stderr:
            break
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    dist = json.loads((work_dir / 'metrics.json').read_text())
    assert dist['world_size'] == 2
    for key in ('mIoU', 'CoI-mIoU', 'Sensitivity', 'Specificity', 'per_class', 'num_images'):
        assert dist[key] == single[key], key


def test_eval_all_mess_resumes_and_keeps_finished_columns(env, single):
    out = env['base'] / 'eval_all'
    shutil.copytree(env['base'] / 'single', out / 'sclip_mess_chase_db1')  # finished earlier: not run again
    cmd = [sys.executable, 'tools/eval_all.py', '--suite', 'mess', '--methods', 'sclip', '--datasets', 'chase_db1',
           'mess_cwfid', '--out-dir', str(out), *env['options']]
    proc = _run(cmd, env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f'[1/2] sclip on CHASE DB1 (Medical Sciences, 20 images): mIoU {single["mIoU"]:.2f}')
    assert lines[0].endswith('(done earlier; --rerun evaluates it again)')
    assert lines[1] == '[2/2] sclip on CWFID (Agriculture and Biology, 21 images) ...'
    cwfid = json.loads((out / 'sclip_mess_cwfid' / 'metrics.json').read_text())['mIoU']
    rows = (out / 'results.csv').read_text().splitlines()
    assert rows[0] == 'method,CHASE DB1,CWFID,Medical mean,Agri+Bio mean,mean'
    assert rows[1] == (f'sclip,{single["mIoU"]:.2f},{cwfid:.2f},{single["mIoU"]:.2f},{cwfid:.2f},'
                       f'{(single["mIoU"] + cwfid) / 2:.2f}')
    assert (out / 'results.xlsx').is_file() and 'CHASE DB1,sclip' in (out / 'results_binary.csv').read_text()

    # A rerun that fails (the data moved away) keeps the finished result, on disk and in the table.
    proc = _run(cmd[:6] + ['--rerun'] + cmd[6:], env, SCLIP_DATA=str(env['base'] / 'nowhere'))
    assert proc.returncode == 1
    assert 'failed: exit code 2: eval.py: error: MESSDataset: data_root' in proc.stdout
    assert json.loads((out / 'sclip_mess_chase_db1' / 'metrics.json').read_text())['mIoU'] == single['mIoU']
    assert (out / 'results.csv').read_text().splitlines()[1] == rows[1]
