"""``ResumableTestLoop``: mmengine's test loop that keeps every label map on disk and reuses those already there."""
from __future__ import annotations

import sys
from typing import Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.runner import TestLoop
from mmengine.runner.amp import autocast
from mmengine.structures import PixelData
from mmseg.registry import LOOPS

from .prediction_store import PredictionStore, model_settings


class EvaluationInterrupted(KeyboardInterrupt):
    """Ctrl-C during a resumable evaluation; the message says how many predictions are saved and how to resume."""


@LOOPS.register_module()
class ResumableTestLoop(TestLoop):
    """mmengine's TestLoop with a prediction folder: a batch whose images all have a stored label map is not run
    through the model; any other batch is, and its label maps are saved.

    The folder is tied to the resolved ``cfg.model`` and the loaded weights (:func:`model_settings`), so a folder of
    other settings is refused, naming the settings that differ. The metric sees the same label maps either way.

    Args:
        runner / dataloader / evaluator / fp16: as TestLoop.
        prediction_dir: the folder (None: behave as TestLoop).
        resume_hint: how to resume, for the Ctrl-C message (default: run the same command again).
    """

    def __init__(self, runner, dataloader, evaluator, fp16: bool = False, prediction_dir: Optional[str] = None,
                 resume_hint: str = 'run the same command again'):
        super().__init__(runner, dataloader, evaluator, fp16)
        self.prediction_dir, self.resume_hint = prediction_dir, resume_hint
        self.store: Optional[PredictionStore] = None
        self.reused = self.computed = 0

    def run(self) -> dict:
        if self.prediction_dir:
            model = self.runner.model
            self.store = PredictionStore(self.prediction_dir, model_settings(self.runner.cfg.model, model))
        try:
            metrics = super().run()
        except KeyboardInterrupt as exc:
            for hook in getattr(self.runner, 'hooks', []):  # e.g. close a progress bar before the message
                if hasattr(hook, 'on_interrupt'):
                    hook.on_interrupt(self.runner)
            if self.store is None:
                raise
            saved = len(self.store)
            what = 'terminated (SIGTERM)' if getattr(exc, 'exit_code', 130) == 143 else 'interrupted'
            error = EvaluationInterrupted(f'{what}; {saved} prediction{"s" if saved != 1 else ""} saved in '
                                          f'{self.store.directory}: {self.resume_hint} to resume')
            error.exit_code = getattr(exc, 'exit_code', 130)
            raise error from None
        self._report()
        return metrics

    def _report(self) -> None:
        """Print (main process) how many predictions were reused from the folder, over all processes."""
        if self.store is None:
            return
        counts = torch.tensor([self.reused, self.computed, self.store.changed], dtype=torch.int64)
        all_reduce(counts)  # no-op on one process
        if get_dist_info()[0] == 0:
            reused, computed, changed = (int(c) for c in counts)
            stale = f' ({changed} of them because their image changed since it was saved)' if changed else ''
            print(f'predictions: {reused} reused from {self.store.directory}, {computed} computed and saved '
                  f'there{stale}', file=sys.stderr, flush=True)

    def _stored(self, data_batch: dict) -> Optional[Sequence]:
        """The batch's data samples with their stored label maps, or None when any image has none."""
        samples = data_batch.get('data_samples') if isinstance(data_batch, dict) else None
        if not samples:
            return None
        items = [(s.metainfo.get('img_path'), tuple(s.metainfo.get('ori_shape', ())[:2])) for s in samples]
        labels = self.store.load_all(items)
        if labels is None:
            return None
        for sample, label in zip(samples, labels):
            sample.set_data(dict(pred_sem_seg=PixelData(data=label)))
        return samples

    @torch.no_grad()
    def run_iter(self, idx, data_batch) -> None:
        self.runner.call_hook('before_test_iter', batch_idx=idx, data_batch=data_batch)
        outputs = self._stored(data_batch) if self.store is not None else None
        if outputs is not None:
            self.reused += len(outputs)
        else:
            with autocast(enabled=self.fp16):
                outputs = self.runner.model.test_step(data_batch)
            if self.store is not None:
                for sample in outputs:
                    if sample.metainfo.get('img_path'):
                        self.store.save(sample.metainfo['img_path'], sample.pred_sem_seg.data)
                self.computed += len(outputs)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook('after_test_iter', batch_idx=idx, data_batch=data_batch, outputs=outputs)
