"""The wheel carries the configs, prompts and class-name files: installed without -e, away from the checkout, it
loads a shipped config and segments an image."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = '''
import sys, numpy as np, sclip_toolkit
from sclip_toolkit import Segmenter
from sclip_toolkit.config import load_config
assert sclip_toolkit.__file__.startswith(sys.argv[1]), sclip_toolkit.__file__
cfg = load_config('sclip_voc21')
assert cfg.model.text_encoder.class_names == 'configs/classnames/cls_voc21.txt'
seg = Segmenter('naclip', checkpoint=sys.argv[2], device='cpu',
                cfg_options={'model.data_preprocessor.short_side': 64})
result = seg(np.random.RandomState(0).randint(0, 256, (40, 50, 3), dtype=np.uint8), 'configs/classnames/cls_voc20.txt')
assert result.labels.shape == (40, 50) and result.scores.shape[0] == 20
print('ok', len(seg.model.text_encoder.templates))
'''


@pytest.mark.slow
def test_wheel_install_finds_its_data(tmp_path, tiny_clip_path):
    wheels, site = tmp_path / 'wheels', tmp_path / 'site'
    build = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w',
                            str(wheels), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(wheels.glob('sclip_toolkit-*.whl'))
    install = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target', str(site),
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    assert (site / 'sclip_toolkit' / '_data' / 'prompts' / 'openai_imagenet_80.txt').is_file()
    env = dict(os.environ, PYTHONPATH=str(site))
    run = subprocess.run([sys.executable, '-c', SCRIPT, str(site), str(tiny_clip_path)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert run.stdout.split() == ['ok', '80']
