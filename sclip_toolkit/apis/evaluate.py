"""Evaluating a config on its dataset: mmengine's Runner test loop, mmseg's IoU metric, a progress bar, metrics.json.

``evaluate()`` is what eval.py (and, through it, dist_test.sh and tools/eval_all.py) runs. It works on one process
or under torchrun (``launcher='pytorch'``), on GPUs (NCCL) or CPUs (gloo).
"""
from __future__ import annotations

import datetime
import json
import math
import os
import os.path as osp
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmseg.evaluation import IoUMetric
from mmseg.registry import HOOKS, METRICS

from ..config import load_config, resolve_config_path
from ..datasets.base import DATA_HINT
from ..exceptions import ConfigError

METRICS_FILE = 'metrics.json'


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """mmseg's IoUMetric (same numbers, same printed table) that also keeps the per-class IoU and accuracy.

    Attributes:
        per_class: after an evaluation (on the main process), ``{class name: {'IoU': %, 'Acc': %}}`` with None for
            classes that never occur in the ground truth nor the prediction (their IoU is NaN; mIoU skips them).
    """

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if not results:
            return metrics
        inter, union, pred, label = (sum(parts) for parts in zip(*results))
        scores = self.total_area_to_metrics(inter, union, pred, label, ['mIoU'], self.nan_to_num, self.beta)
        names = self.dataset_meta['classes']

        def pct(value) -> Optional[float]:
            value = float(value)
            return None if math.isnan(value) else round(value * 100, 2)

        self.per_class = {name: dict(IoU=pct(iou), Acc=pct(acc))
                          for name, iou, acc in zip(names, scores['IoU'], scores['Acc'])}
        return metrics


@HOOKS.register_module()
class EvalProgressHook(Hook):
    """A progress bar over the test images (main process; counts this process's share under torchrun)."""
    priority = 'VERY_LOW'

    def __init__(self, description: str = 'eval'):
        self.description, self._bar = description, None

    def before_test_epoch(self, runner) -> None:
        if runner.rank == 0:
            from tqdm import tqdm
            self._bar = tqdm(total=len(runner.test_dataloader), desc=self.description, unit='img', file=sys.stderr,
                             dynamic_ncols=True, mininterval=0.5)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def config_name(config: str) -> str:
    """'sclip_voc21' for 'configs/sclip/sclip_voc21.py', 'sclip/sclip_voc21' or 'sclip_voc21'."""
    return Path(str(resolve_config_path(config))).stem


def prepare_eval_config(config: str, work_dir: Optional[str] = None, checkpoint: Optional[str] = None,
                        vfm_checkpoint: Optional[str] = None, cfg_options: Optional[Dict[str, Any]] = None,
                        show_dir: Optional[str] = None, launcher: str = 'none', progress: bool = True) -> Config:
    """The config as the Runner will run it: overrides applied, evaluation plumbing set.

    Args:
        config: config file or name ('sclip_voc21').
        work_dir: where logs and metrics.json go (default ``work_dirs/<config name>``).
        checkpoint / vfm_checkpoint: local CLIP / VFM weight files (override the config's).
        cfg_options: ``--cfg-options`` overrides, applied last.
        show_dir: also save a visualisation of every prediction there.
        launcher: 'none' (one process) or 'pytorch' (torchrun).
        progress: show a progress bar.
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
    hooks = cfg.get('default_hooks', {})
    if show_dir:
        hooks.setdefault('visualization', dict(type='SegVisualizationHook')).update(draw=True, interval=1)
        cfg.visualizer.save_dir = str(show_dir)
    elif 'visualization' in hooks and not hooks.visualization.get('draw'):
        hooks.pop('visualization')  # it would only warn that it draws nothing
    return cfg


def _check_data_root(cfg: Config) -> None:
    data_root = cfg.test_dataloader.dataset.get('data_root')
    if data_root and not osp.isdir(data_root):
        raise FileNotFoundError(f'data_root {data_root} of {cfg.test_dataloader.dataset.type} does not exist; '
                                f'{DATA_HINT}')


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


def evaluate(config: str, work_dir: Optional[str] = None, checkpoint: Optional[str] = None,
             vfm_checkpoint: Optional[str] = None, cfg_options: Optional[Dict[str, Any]] = None,
             show_dir: Optional[str] = None, launcher: str = 'none', progress: bool = True) -> Dict[str, Any]:
    """Run the test loop of a config and write ``<work_dir>/metrics.json`` (main process).

    Arguments as :func:`prepare_eval_config`.

    Returns:
        The record written to metrics.json: ``aAcc``, ``mIoU``, ``mAcc`` (percent), ``per_class``, ``config``,
        ``dataset``, ``num_images``, ``num_classes``, ``timestamp`` ... (on other ranks: the summary metrics only).
    """
    from mmengine.runner import Runner

    import sclip_toolkit  # noqa: F401  (registration in the main process; workers get it via custom_imports)

    cfg = prepare_eval_config(config, work_dir, checkpoint, vfm_checkpoint, cfg_options, show_dir, launcher, progress)
    _check_data_root(cfg)
    _init_cpu_distributed(launcher)
    runner = Runner.from_cfg(cfg)
    metrics = {k: _as_float(v) for k, v in runner.test().items()}
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
        device='cuda' if torch.cuda.is_available() else 'cpu', work_dir=cfg.work_dir,
        timestamp=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        per_class=getattr(metric, 'per_class', None))
    os.makedirs(cfg.work_dir, exist_ok=True)
    path = osp.join(cfg.work_dir, METRICS_FILE)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(record, f, indent=2)
    summary = ', '.join(f'{k} {record[k]:.2f}' for k in ('mIoU', 'aAcc', 'mAcc') if k in record)
    print(f'{record["config"]}: {summary} ({record["num_images"]} images) -> {path}', flush=True)
    return record
