"""dist_test.sh gives each process its share of the cores (torchrun alone would give each one thread)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _threads(tmp_path: Path, processes: int, **env_extra: str) -> str:
    """What OMP_NUM_THREADS the launcher would see: a stand-in python on PATH prints it instead of starting torchrun
    (the script runs from a copy, so the checkout's .venv is not found)."""
    shutil.copy(ROOT / 'dist_test.sh', tmp_path / 'dist_test.sh')
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / 'python'
    fake.write_text('#!/bin/sh\necho "$OMP_NUM_THREADS"\n')
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != 'OMP_NUM_THREADS'}
    env.update(PATH=f'{bin_dir}{os.pathsep}{env.get("PATH", "")}', **env_extra)
    proc = subprocess.run(['bash', str(tmp_path / 'dist_test.sh'), 'sclip_voc21', str(processes)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_threads_per_process_are_the_cores_divided_by_the_processes(tmp_path):
    cores = len(os.sched_getaffinity(0))
    assert _threads(tmp_path, 2) == str(max(1, cores // 2))
    assert _threads(tmp_path, 1) == str(cores)
    assert _threads(tmp_path, 4 * cores) == '1'  # never zero


def test_threads_set_by_the_user_are_kept(tmp_path):
    assert _threads(tmp_path, 2, OMP_NUM_THREADS='3') == '3'
