"""A method of one's own, added without editing the toolkit: a toy attention variant and a toy post-processing step
in a temporary module, and a temporary method base config. They must appear in ``available_methods()``, the demo's
choices, ``eval.py --config`` and the parametrized invariant tests."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

TOY_MODULE = '''
import torch
from mmseg.registry import MODELS
from sclip_toolkit.models.attention import FinalAttention, register_attention
from sclip_toolkit.models.postprocess import PostProcessStep


@register_attention('toy')
class ToyAttention(FinalAttention):
    """Each token attends uniformly to every token (a plain mean of the values); residual and FFN dropped."""
    keep_residual = False
    keep_ffn = False

    def attend(self, q, k, v, ctx):
        return v.mean(dim=2, keepdim=True).expand_as(v)


@MODELS.register_module()
class ToyStep(PostProcessStep):
    """Logits-stage step: adds 1 to the first name's logits."""
    stage = 'logits'
    per_channel = False

    def forward(self, logits, ctx):
        logits = logits.clone()
        logits[:, 0] += 1.0
        return logits
'''


@pytest.fixture(scope='module')
def plugin(tmp_path_factory):
    """(module folder, method folder): toy_plugin.py and the method base toy.py."""
    base = tmp_path_factory.mktemp('plugin')
    (base / 'code').mkdir()
    (base / 'code' / 'toy_plugin.py').write_text(TOY_MODULE)
    (base / 'methods').mkdir()
    (base / 'methods' / 'toy.py').write_text(
        f"_base_ = [{str(ROOT / 'configs/_base_/methods/sclip.py')!r}]\n"
        "custom_imports = dict(imports=['sclip_toolkit', 'toy_plugin'], allow_failed_imports=False)\n"
        "model = dict(clip=dict(final_attn=dict(_delete_=True, type='ToyAttention')),\n"
        "             post_process=[dict(type='ToyStep')])\n")
    (base / 'toy_voc21.py').write_text(
        f"_base_ = [{str(ROOT / 'configs/_base_/datasets/voc21.py')!r}, {str(base / 'methods/toy.py')!r}]\n"
        "model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc21.txt'))\n")
    return base


@pytest.fixture
def registered(plugin, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin / 'code'))
    monkeypatch.setenv('SCLIP_METHOD_PATH', str(plugin / 'methods'))
    return importlib.import_module('toy_plugin')


def _env(plugin, **extra) -> dict:
    path = os.pathsep.join([str(plugin / 'code'), os.environ.get('PYTHONPATH', '')])
    return dict(os.environ, PYTHONPATH=path, SCLIP_METHOD_PATH=str(plugin / 'methods'), **extra)


def test_toy_method_is_found_and_runs_through_the_api(registered, tiny_clip_path):
    from sclip_toolkit import Segmenter
    from sclip_toolkit.apis import available_methods
    from sclip_toolkit.models.attention import attention_variants

    assert 'toy' in available_methods() and 'toy' in attention_variants()
    options = {'model.data_preprocessor.short_side': 64, 'model.text_encoder.templates': ['a photo of a {}.']}
    seg = Segmenter('toy', checkpoint=str(tiny_clip_path), device='cpu', cfg_options=options)
    assert type(seg.model.clip.final_attn).__name__ == 'ToyAttention'
    assert [type(s).__name__ for s in seg.model.post_process] == ['ToyStep']
    image = np.random.RandomState(0).randint(0, 256, (40, 60, 3), dtype=np.uint8)
    result = seg(image, 'sky; tree; road')
    assert result.scores.shape == (3, 40, 60) and np.isfinite(result.scores).all()
    # the toy step adds 1 to name 0's logits before the softmax: its probability rises at every pixel
    plain = Segmenter('toy', checkpoint=str(tiny_clip_path), device='cpu',
                      cfg_options={**options, 'model.post_process': []})(image, 'sky; tree; road')
    assert (result.scores[0] > plain.scores[0]).all()


def test_toy_step_cannot_be_streamed(registered, tiny_clip_path):
    """ToyStep is not per channel: asking for chunked decoding is refused, the automatic choice falls back."""
    from sclip_toolkit.apis import build_segmentor, method_config
    from sclip_toolkit.models.scoring import StreamingUnsupported

    cfg = method_config('toy', checkpoint=str(tiny_clip_path))
    cfg.model.text_encoder.class_names = ['sky', 'tree']
    model = build_segmentor(cfg, 'cpu')
    model.keep_scores = False
    with pytest.raises(StreamingUnsupported, match='needs every class at once'):
        model.keeps_scores((10, 10))
    model.keep_scores, model.max_score_bytes = None, 1
    assert model.keeps_scores((10, 10))  # too large to keep, but not streamable: dense, never wrong labels


@pytest.mark.slow
def test_toy_method_in_demo_eval_and_invariant_tests(plugin, tiny_clip_path, tmp_path):
    env = _env(plugin)
    demo = subprocess.run([sys.executable, 'demo.py', '--method', 'toy', '--checkpoint', str(tiny_clip_path),
                           '--classes', 'cup; table', '--out', str(tmp_path / 'demo'), '--device', 'cpu'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert json.loads(next((tmp_path / 'demo').glob('*_toy.json')).read_text())['method'] == 'toy'
    bad = subprocess.run([sys.executable, 'demo.py', '--method', 'toyy'], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and 'toy' in bad.stderr  # the demo's choices include it

    from .datasets.layouts import make_layout
    from sclip_toolkit.config import load_config
    data = tmp_path / 'data'
    os.environ['SCLIP_DATA'] = str(data)
    try:
        entry = load_config('sclip_voc21').test_dataloader.dataset.to_dict()
    finally:
        del os.environ['SCLIP_DATA']
    make_layout(Path(entry.pop('data_root')), entry)
    run = subprocess.run([sys.executable, 'eval.py', '--config', str(plugin / 'toy_voc21.py'), '--checkpoint',
                          str(tiny_clip_path), '--work-dir', str(tmp_path / 'work'), '--no-progress',
                          '--cfg-options', 'test_dataloader.num_workers=0', 'model.data_preprocessor.short_side=64',
                          'model.text_encoder.templates=single'],
                         cwd=ROOT, env=_env(plugin, SCLIP_DATA=str(data)), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert 'mIoU' in json.loads((tmp_path / 'work' / 'metrics.json').read_text())

    tests = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'toy_plugin', '-k', 'toy',
                            'tests/models/test_variant_invariants.py'], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert ' passed' in tests.stdout and int(tests.stdout.split(' passed')[0].split()[-1]) >= 6  # batch, weights, 3 shapes, dtype
