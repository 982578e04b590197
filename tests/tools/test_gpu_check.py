"""tools/gpu_check.sh --dry-run: the GPU check's steps on CPU with tiny inputs (parity fp32 + fp16, every method)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'tools' / 'gpu_check.sh'


def _run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable, GPU_CHECK_LOG=str(tmp_path / 'gpu_check.log'))
    return subprocess.run(['bash', str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1800)


@pytest.mark.slow
def test_dry_run_runs_every_step_on_cpu(tmp_path):
    res = _run('--dry-run', tmp_path=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    log = (tmp_path / 'gpu_check.log').read_text()
    for step in ('parity on cpu, fp32', 'parity on cpu, fp16', *(f'benchmark {m} on cpu' for m in
                                                                  ('sclip', 'naclip', 'clearclip', 'scclip',
                                                                   'proxyclip'))):
        assert f'== {step}' in log, step
    assert log.count('1 passed') == 2  # one parity case per precision in the dry run
    assert log.count('32 crops per pass') == 5 and 'all steps passed' in res.stdout


def test_bad_argument_is_one_line(tmp_path):
    res = _run('--gpu', tmp_path=tmp_path)
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "gpu_check.sh: error: unknown argument '--gpu' (valid: --dry-run, --help)"]


def test_without_cuda_it_points_to_the_dry_run(tmp_path):
    if subprocess.run([sys.executable, '-c', 'import torch; assert not torch.cuda.is_available()']).returncode:
        pytest.skip('a CUDA device is present')
    res = _run(tmp_path=tmp_path)
    assert res.returncode == 2 and 'use --dry-run' in res.stderr
