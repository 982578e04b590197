"""Runner hooks of an evaluation: a progress bar and pictures of the predictions (registered in mmseg's HOOKS)."""
from __future__ import annotations

import os
import os.path as osp
import sys

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ..io_utils import atomic_write, write_error


@HOOKS.register_module()
class EvalProgressHook(Hook):
    """A progress bar over the test images on the main process.

    Under torchrun every process evaluates its share of the images; the bar counts rank 0's share and says so.
    """
    priority = 'VERY_LOW'

    def __init__(self, description: str = 'eval'):
        self.description, self._bar = description, None

    def before_test_epoch(self, runner) -> None:
        if runner.rank != 0:
            return
        from tqdm import tqdm
        loader = runner.test_dataloader
        total, share = len(loader.dataset), len(loader.sampler) if hasattr(loader.sampler, '__len__') else None
        description = self.description
        if runner.world_size > 1 and share is not None:
            description += f' [rank 0 of {runner.world_size}: its {share} of the {total} images]'
            total = share
        self._bar = tqdm(total=total, desc=description, unit='img', file=sys.stderr, dynamic_ncols=True,
                         mininterval=0.5)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._bar is not None:
            self._bar.update(len(outputs) if outputs is not None else 1)

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    on_interrupt = after_test_epoch  # ResumableTestLoop calls it on Ctrl-C, before its message


@HOOKS.register_module()
class ShowDirHook(Hook):
    """Save a picture of every prediction as ``<out_dir>/<image name>.png`` (mmseg's visualizer: the image with the
    ground truth and the prediction side by side), and say where when the evaluation ends."""
    priority = 'LOW'

    def __init__(self, out_dir: str):
        self.out_dir, self.count = out_dir, 0

    def before_test_epoch(self, runner) -> None:
        os.makedirs(self.out_dir, exist_ok=True)
        self.count = 0

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        import mmcv

        visualizer = runner.visualizer
        for sample in outputs or []:
            img_path = sample.metainfo['img_path']
            image = mmcv.imread(img_path, channel_order='rgb')
            name = osp.splitext(osp.basename(img_path))[0]
            save_drawing(osp.join(self.out_dir, f'{name}.png'), lambda tmp: visualizer.add_datasample(
                name, image, data_sample=sample, draw_gt='gt_sem_seg' in sample, show=False, out_file=tmp),
                visualizer.get_image)
            self.count += 1

    def after_test_epoch(self, runner, metrics=None) -> None:
        count = torch.tensor([self.count], dtype=torch.int64)
        all_reduce(count)
        if runner.rank == 0:
            print(f'wrote {int(count)} pictures (image, ground truth, prediction) to {self.out_dir}/<image name>.png',
                  file=sys.stderr, flush=True)


def save_drawing(path: str, draw, drawn) -> None:
    """Have ``draw(tmp)`` write a PNG (mmcv's imwrite: it returns False instead of raising) to a temporary name next
    to ``path`` and rename it into place; when nothing was written, write ``drawn()`` (RGB) ourselves to raise the
    reason (full disk, read-only, permission) as one line."""
    import tempfile

    import cv2
    import numpy as np

    try:
        fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.png', dir=osp.dirname(path) or '.')
        os.close(fd)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        draw(tmp)
        if os.path.getsize(tmp) > 0:
            os.replace(tmp, path)
            return
    finally:
        if osp.exists(tmp):
            os.unlink(tmp)
    ok, png = cv2.imencode('.png', np.ascontiguousarray(drawn()[..., ::-1]))
    atomic_write(path, png.tobytes())
