"""Evaluating a config on its dataset: mmengine's Runner test loop, mmseg's IoU metric, a progress bar, metrics.json.

``evaluate()`` is what eval.py (and, through it, dist_test.sh and tools/eval_all.py) runs. It works on one process
or under torchrun (``launcher='pytorch'``), on GPUs (NCCL) or CPUs (gloo).
"""
from __future__ import annotations

import datetime
import json
import os
import os.path as osp
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dist import get_dist_info

from .. import evaluation  # noqa: F401  (registers ResumableTestLoop, PerClassIoUMetric and the hooks)
from ..config import load_config, resolve_config_path
from ..datasets.base import check_dataset_config
from ..devices import check_cli_device
from ..exceptions import ConfigError
from ..io_utils import atomic_write, check_writable_dir

METRICS_FILE = 'metrics.json'


def config_name(config: str) -> str:
    """'sclip_voc21' for 'configs/sclip/sclip_voc21.py', 'sclip/sclip_voc21' or 'sclip_voc21'."""
    return Path(str(resolve_config_path(config))).stem


def prepare_eval_config(config: str, work_dir: Optional[str] = None, checkpoint: Optional[str] = None,
                        vfm_checkpoint: Optional[str] = None, cfg_options: Optional[Dict[str, Any]] = None,
                        show_dir: Optional[str] = None, launcher: str = 'none', progress: bool = True,
                        save_preds: Optional[str] = None) -> Config:
    """The config as the Runner will run it: overrides applied, evaluation plumbing set.

    Args:
        config: config file or name ('sclip_voc21').
        work_dir: where logs and metrics.json go (default ``work_dirs/<config name>``).
        checkpoint / vfm_checkpoint: local CLIP / VFM weight files (override the config's).
        cfg_options: ``--cfg-options`` overrides, applied last.
        show_dir: also save a visualisation of every prediction there, as ``<show_dir>/<image name>.png``.
        launcher: 'none' (one process) or 'pytorch' (torchrun).
        progress: show a progress bar.
        save_preds: keep every label map in this folder and reuse those already there (``ResumableTestLoop``).
    """
    if launcher not in ('none', 'pytorch'):
        raise ConfigError(f"launcher must be 'none' or 'pytorch', got {launcher!r}")
    cfg = load_config(config, checkpoint, vfm_checkpoint, cfg_options)
    name = config_name(config)
    cfg.launcher = launcher
    cfg.work_dir = str(work_dir or cfg.get('work_dir') or osp.join('work_dirs', name))
    env_cfg = cfg.setdefault('env_cfg', {})
    if not torch.cuda.is_available():  # NCCL needs GPUs; gloo runs the same collectives on CPUs
        env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    if launcher != 'none' and cfg.get('model_wrapper_cfg') is None:
        # The frozen model has no trainable parameters, which DistributedDataParallel refuses; this wrapper only
        # moves such modules to the device (inference needs no gradient sync).
        cfg.model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel')
    loader = cfg.test_dataloader
    if loader.get('num_workers', 0) == 0:
        loader.persistent_workers = False  # PyTorch refuses persistent workers without workers
    evaluator = cfg.get('test_evaluator')
    if isinstance(evaluator, dict) and evaluator.get('type') in ('IoUMetric', 'mmseg.IoUMetric'):
        evaluator.type = 'PerClassIoUMetric'
    if progress:
        hooks = list(cfg.get('custom_hooks') or [])
        cfg.custom_hooks = hooks + [dict(type='EvalProgressHook', description=name)]
    if show_dir:
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [dict(type='ShowDirHook', out_dir=str(show_dir))]
    hooks = cfg.get('default_hooks', {})
    if 'visualization' in hooks and not hooks.visualization.get('draw'):
        hooks.pop('visualization')  # it would only warn that it draws nothing
    if save_preds:
        loop = dict(cfg.get('test_cfg') or {})
        if loop.get('type', 'TestLoop') not in ('TestLoop', 'ResumableTestLoop'):
            raise ValueError(f"--save-preds needs the test loop to be TestLoop, but the config's test_cfg.type is "
                             f"{loop['type']!r}")
        cfg.test_cfg = dict(loop, type='ResumableTestLoop', prediction_dir=str(save_preds))
    return cfg


def select_device(device: Optional[str], launcher: str = 'none') -> Optional[torch.device]:
    """Check an evaluation device ('cpu', 'cuda', 'cuda:N'; None: CUDA when available) and make it current.

    Returns:
        The device, or None for the runner's default (CUDA when available, else CPU).
    """
    dev = check_cli_device(device)
    if dev is not None and dev.type == 'cuda' and dev.index is not None:
        if launcher != 'none':
            raise ConfigError(f'--device {device}: under torchrun each process takes the GPU of its local rank; '
                              f'give --device cuda (or choose GPUs with CUDA_VISIBLE_DEVICES)')
        torch.cuda.set_device(dev.index)  # the runner puts the model on the current CUDA device
    return dev


def _init_cpu_distributed(launcher: str) -> None:
    """Start the gloo process group ourselves on CPU machines: mmengine's init_dist selects a CUDA device first."""
    import torch.distributed as dist
    if launcher == 'pytorch' and not torch.cuda.is_available() and not dist.is_initialized():
        if 'RANK' not in os.environ:
            raise RuntimeError('launcher=pytorch needs the torchrun environment (RANK, WORLD_SIZE, ...); start it '
                               'with dist_test.sh or python -m torch.distributed.run')
        dist.init_process_group(backend='gloo')


def _as_float(value: Any) -> Any:
    """Metric values as plain floats, rounded as mmseg reports them (2 decimals; the float32 sums add noise)."""
    return round(float(value), 2) if isinstance(value, (np.floating, np.integer, float, int)) else value


def _time_test_step(model: torch.nn.Module) -> Dict[str, float]:
    """Add up the wall and CPU seconds spent in ``model.test_step`` (the rest of the test loop is loading, metric
    and hooks); returns the running totals."""
    totals = dict(wall=0.0, cpu=0.0)
    test_step = model.test_step

    def timed(*args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return test_step(*args, **kwargs)
        finally:
            totals['wall'] += time.perf_counter() - start
            totals['cpu'] += time.process_time() - cpu

    model.test_step = timed
    return totals


def evaluate(config: str, work_dir: Optional[str] = None, checkpoint: Optional[str] = None,
             vfm_checkpoint: Optional[str] = None, cfg_options: Optional[Dict[str, Any]] = None,
             show_dir: Optional[str] = None, launcher: str = 'none', progress: bool = True,
             save_preds: Optional[str] = None, device: Optional[str] = None) -> Dict[str, Any]:
    """Run the test loop of a config and write ``<work_dir>/metrics.json`` (main process).

    Arguments as :func:`prepare_eval_config`, and ``device``: 'cpu', 'cuda', 'cuda:N' or None (CUDA when
    available). eval.py hides CUDA before anything is imported for ``--device cpu``; in a process where CUDA is
    already visible, the model is moved to the CPU after the runner has built it.

    Returns:
        The record written to metrics.json: ``aAcc``, ``mIoU``, ``mAcc`` (percent), ``per_class``, ``config``,
        ``dataset``, ``num_images``, ``num_classes``, ``timestamp`` ... (on other ranks: the summary metrics only).
    """
    from mmengine.runner import Runner

    import sclip_toolkit  # noqa: F401  (registration in the main process; workers get it via custom_imports)

    cfg = prepare_eval_config(config, work_dir, checkpoint, vfm_checkpoint, cfg_options, show_dir, launcher, progress,
                              save_preds)
    dev = select_device(device, launcher)
    check_dataset_config(cfg.test_dataloader.dataset)
    # Every output folder is checked before the work: the metrics of an hour's run must have somewhere to go.
    check_writable_dir(cfg.work_dir, f'--work-dir {cfg.work_dir}')
    for option, folder in (('--save-preds', save_preds), ('--show-dir', show_dir)):
        if folder:
            check_writable_dir(folder, f'{option} {folder}')
    _init_cpu_distributed(launcher)
    runner = Runner.from_cfg(cfg)
    if dev is not None and dev.type == 'cpu' and launcher == 'none':
        runner.model.to(dev)
    model_device = next(iter(runner.model.parameters()), torch.empty(0)).device
    model_time = _time_test_step(runner.model)
    start, cpu = time.perf_counter(), time.process_time()
    metrics = {k: _as_float(v) for k, v in runner.test().items()}
    loop_s, loop_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    rank, world_size = get_dist_info()
    if rank != 0:
        return metrics
    dataset = runner.test_dataloader.dataset
    metric = runner.test_loop.evaluator.metrics[0]
    clip_cfg = cfg.model.get('clip', {})
    record: Dict[str, Any] = dict(
        config=config_name(config), config_file=str(resolve_config_path(config)), **metrics,
        dataset=type(dataset).__name__, data_root=cfg.test_dataloader.dataset.get('data_root'),
        num_images=len(dataset), num_classes=len(dataset.metainfo['classes']),
        clip=clip_cfg.get('checkpoint') or f"{clip_cfg.get('name')}/{clip_cfg.get('pretrained')}",
        vfm_checkpoint=(clip_cfg.get('vfm') or {}).get('checkpoint'), world_size=world_size,
        device=str(model_device), work_dir=cfg.work_dir, loop_s=round(loop_s, 3), loop_cpu_s=round(loop_cpu_s, 3),
        images_per_s=round(len(dataset) / loop_s, 4), threads=torch.get_num_threads(),
        test_step_s=round(model_time['wall'], 3), test_step_cpu_s=round(model_time['cpu'], 3),
        timestamp=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        per_class=getattr(metric, 'per_class', None))
    os.makedirs(cfg.work_dir, exist_ok=True)
    path = osp.join(cfg.work_dir, METRICS_FILE)
    atomic_write(path, json.dumps(record, indent=2))
    summary = ', '.join(f'{k} {record[k]:.2f}' for k in ('mIoU', 'aAcc', 'mAcc') if k in record)
    print(f'{record["config"]}: {summary} ({record["num_images"]} images, {record["images_per_s"]:.3g} images/s) '
          f'-> {path}', flush=True)
    return record
