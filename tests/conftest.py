"""Shared fixtures: a tiny random CLIP written in the OpenAI checkpoint layout, the device, mmseg's scope.

Environment: ``TORCH_DEVICE`` (default cpu) is the device of the ``device`` fixture and of the parity checks;
``SCLIP_TEST_PRECISION`` (fp32, the default, or fp16: the references' CUDA flow) is the encoders' precision in the
parity checks, which then use that precision's tolerances (``PARITY_TOLERANCES``, stated in the README).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope

import sclip_toolkit  # noqa: F401  (registration)
from sclip_toolkit.testing import write_random_clip

SHARED = Path(__file__).resolve().parents[2] / 'shared'
PARITY = SHARED / 'parity'

init_default_scope('mmseg')
torch.set_num_threads(min(2, os.cpu_count() or 1))


# precision -> (max |seg_logits - reference|, min argmax agreement, min prediction agreement). fp32 on any device
# must reproduce the CPU fixtures. The fp16 flow (weights and activations in fp16, LayerNorms in fp32, the methods'
# own score dtypes) measured on CPU: max diff <= 2.8e-3, argmax >= 98.76%, predictions >= 99.994% over the 7
# fixtures; the limits leave room for GPU kernels' other summation order (README, "GPU check").
PARITY_TOLERANCES = {'fp32': (1e-4, 0.999, 0.999), 'fp16': (1e-2, 0.975, 0.999)}


def parity_device() -> torch.device:
    return torch.device(os.environ.get('TORCH_DEVICE', 'cpu'))


def parity_precision() -> str:
    precision = os.environ.get('SCLIP_TEST_PRECISION', 'fp32')
    if precision not in PARITY_TOLERANCES:
        raise ValueError(f'SCLIP_TEST_PRECISION must be one of {", ".join(PARITY_TOLERANCES)}, got {precision!r}')
    return precision


@pytest.fixture(scope='session')
def device() -> torch.device:
    return parity_device()


@pytest.fixture(scope='session')
def tiny_clip_path(tmp_path_factory) -> Path:
    """A tiny random CLIP (12 vision blocks of width 64, patch 16) saved as an OpenAI-layout state dict."""
    return write_random_clip(tmp_path_factory.mktemp('weights') / 'tiny_clip.pt')


@pytest.fixture(scope='session')
def tiny_backbone(tiny_clip_path):
    from sclip_toolkit.models import CLIPBackbone
    return CLIPBackbone(checkpoint=str(tiny_clip_path), final_attn='vanilla')


def parity_fixture(name: str) -> Path:
    """A file of ../shared/parity, or skip the test when the fixtures are not beside the checkout."""
    path = PARITY / name
    if not path.exists():
        pytest.skip(f'parity fixture {path} not available')
    return path


@pytest.fixture(scope='session', autouse=True)
def _isolated_caches(tmp_path_factory):
    """Text-embedding cache and OpenAI weight cache in temporary folders: tests never see the user's caches."""
    mp = pytest.MonkeyPatch()
    mp.setenv('SCLIP_CACHE_DIR', str(tmp_path_factory.mktemp('text_cache')))
    mp.setenv('SCLIP_CLIP_CACHE', str(tmp_path_factory.mktemp('clip_cache')))
    yield
    mp.undo()


def assert_parity(tag: str, config: str, vfm: bool = False, cfg_options: dict = None) -> dict:
    """Run ``config`` on the parity input with the mini weights and check it against ref/<tag> (compare.py):
    in fp32, seg_logits within 1e-4, argmax and prediction agreement >= 0.999 (``PARITY_TOLERANCES``).
    Runs on ``TORCH_DEVICE`` in ``SCLIP_TEST_PRECISION``; skips when ../shared/parity is absent."""
    import importlib.util

    from sclip_toolkit.apis import build_segmentor, run_segmentor
    from sclip_toolkit.config import load_config

    spec = importlib.util.spec_from_file_location('parity_compare', parity_fixture('compare.py'))
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    vfm_path = str(parity_fixture('mini_vfm_dino_vitt8.pt')) if vfm else None
    device, precision = parity_device(), parity_precision()
    cfg = load_config(config, checkpoint=str(parity_fixture('mini_clip.pt')), vfm_checkpoint=vfm_path,
                      cfg_options={**(cfg_options or {}), 'model.clip.precision': precision})
    cfg.model.keep_scores = True
    model = build_segmentor(cfg, device)
    with _exact_fp32_on_cuda():
        sample = run_segmentor(model, cfg, [str(parity_fixture('inputs/img_375x500.png'))])[0]
    res = compare.compare(tag, sample.seg_logits.data.float().cpu().numpy(),
                          other_pred=sample.pred_sem_seg.data[0].cpu().numpy())
    res['device'], res['precision'] = str(device), precision
    max_diff, min_argmax, min_pred = PARITY_TOLERANCES[precision]
    assert res['seg_logits_max_abs_diff'] < max_diff, res
    assert res['argmax_agreement'] >= min_argmax and res['pred_agreement'] >= min_pred, res
    return res


@contextlib.contextmanager
def _exact_fp32_on_cuda():
    """TF32 off while a parity check runs: cuDNN convolutions use it by default on Ampere and later GPUs."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def sub_grid(n: int, stride: int) -> list:
    """Rows (or columns) of a stored reference sub-grid: every stride-th one plus the last (the borders matter)."""
    return sorted(set(range(0, n, stride)) | {n - 1})


def segment_random_image(model, cfg, height: int, width: int, seed: int, folder: Path):
    """Class scores (C, H, W) of the cross-check image ``RandomState(seed)`` of that size, written as an RGB PNG and
    read through the config's pipeline, as the references read the same file with cv2 (BGR)."""
    import cv2
    import numpy as np

    from sclip_toolkit.apis import run_segmentor
    rgb = np.random.RandomState(seed).randint(0, 256, (height, width, 3), dtype=np.uint8)
    path = folder / f'img_{height}x{width}.png'
    cv2.imwrite(str(path), rgb[:, :, ::-1])
    return run_segmentor(model, cfg, [str(path)])[0].seg_logits.data.float().numpy()
