"""Per-stage timing of region-based and VFM-based methods (``tools/benchmark.py --stages``).

Stages of one image: region masks (the region generator; a second run reads its disk cache), VFM features, CLIP
(patch embedding and every block before the last), correlation (the last-block variant: scope, attention and
branches), decoding (cosine logits of every window at the original size) and correction (the post-processing
steps, e.g. CorrCLIP's map correction). Timers wrap the parts' ``forward``; CLIP is the encoder's total minus the
VFM and the last block.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, List

import torch

from sclip_toolkit.models.postprocess import StepContext


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


@contextmanager
def _timer(module: torch.nn.Module, key: str, totals: Dict[str, float], device: torch.device):
    """Add the time of every ``module.forward`` call to ``totals[key]`` while the block runs."""
    original = module.forward

    def timed(*args, **kwargs):
        _sync(device)
        start = time.perf_counter()
        out = original(*args, **kwargs)
        _sync(device)
        totals[key] = totals.get(key, 0.0) + time.perf_counter() - start
        return out

    module.forward = timed
    try:
        yield
    finally:
        del module.forward


def random_sam2(size: str = 'tiny', seed: int = 0) -> torch.nn.Module:
    """A randomly initialised SAM 2 (no weights needed); the last hypernetwork layer scaled by 30 so that masks pass
    CorrCLIP's stability threshold (random weights give none otherwise), as in the parity fixtures."""
    from sclip_toolkit.models.regions.sam2 import import_sam2, sam2_files
    sam2 = import_sam2()
    torch.manual_seed(seed)
    model = sam2.build_sam.build_sam2(sam2_files('2.0', size)[0], None, device='cpu', apply_postprocessing=False)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith('sam_mask_decoder.output_hypernetworks_mlps.') and '.layers.2.' in name:
                param.mul_(30.0)
    return model


def stage_times(model, image: torch.Tensor, meta: dict) -> Dict[str, float]:
    """Seconds per stage for one image (1, 3, H, W); ``masks_cached`` is the region generator's second run."""
    device = image.device
    totals: Dict[str, float] = {}
    ori_shape = tuple(meta['ori_shape'])
    regions = None
    if model.region_generator is not None:
        for key in ('masks', 'masks_cached'):
            _sync(device)
            start = time.perf_counter()
            regions = model.region_generator(image, meta)
            _sync(device)
            totals[key] = time.perf_counter() - start
    text = model.class_embeddings()
    with _timer(model.clip.final_attn, 'correlation', totals, device):
        if model.clip.vfm is not None:
            with _timer(model.clip.vfm, 'vfm', totals, device):
                start = time.perf_counter()
                crops = model.inference.encode(model.clip, image, regions=regions)
        else:
            start = time.perf_counter()
            crops = model.inference.encode(model.clip, image, regions=regions)
        _sync(device)
        encode = time.perf_counter() - start
    totals['clip'] = encode - totals.get('vfm', 0.0) - totals.get('correlation', 0.0)
    ctx = StepContext(image=image, ori_shape=ori_shape, regions=regions)
    start = time.perf_counter()
    logits = model.logits(crops, text.names, ctx)
    _sync(device)
    totals['decode'] = time.perf_counter() - start
    from sclip_toolkit.models.postprocess import DenseScores
    scores = DenseScores(text.reduce((model.logit_scale * logits).softmax(dim=0)))
    start = time.perf_counter()
    for step in model._steps('scores'):
        step(scores, ctx)
    scores.labels()
    _sync(device)
    totals['correction'] = time.perf_counter() - start
    totals['total'] = sum(v for k, v in totals.items() if k != 'masks_cached')
    return totals


def print_stage_table(rows: Dict[str, Dict[str, float]]) -> None:
    keys: List[str] = ['masks', 'masks_cached', 'vfm', 'clip', 'correlation', 'decode', 'correction', 'total']
    print('per-image seconds by stage' + ''.join(f'{k:>13}' for k in keys))
    for name, times in rows.items():
        print(f'{name:<26}' + ''.join(f'{times[k]:13.3f}' if k in times else f'{"-":>13}' for k in keys))


def clip_input(path: Path) -> torch.Tensor:
    """The CLIP-normalised (1, 3, H, W) input of an image file, without resizing."""
    import cv2
    from sclip_toolkit.models.vfm import CLIP_MEAN, CLIP_STD
    rgb = torch.from_numpy(cv2.imread(str(path))[:, :, ::-1].copy()).permute(2, 0, 1).float()[None] / 255
    return (rgb - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)


def image_file(tmp: Path, height: int, width: int) -> Path:
    """A random RGB image of the input size written as PNG (region generators read the original from disk)."""
    import cv2
    import numpy as np
    path = tmp / f'bench_{height}x{width}.png'
    cv2.imwrite(str(path), np.random.RandomState(0).randint(0, 256, (height, width, 3), dtype=np.uint8))
    return path
