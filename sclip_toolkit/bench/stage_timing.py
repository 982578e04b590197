"""Per-stage timing of region-based and VFM-based methods (``tools/benchmark.py --stages``).

Stages of one image, timed on one ``predict`` through the segmentor's public stages and its parts' forward hooks
(:mod:`sclip_toolkit.bench.hooks`): region masks (the region generator; ``masks_cached``: the same call again, which
reads its disk cache), VFM features, CLIP (encoding the windows, and the head's per-image pass, less the VFM and the
last block), correlation (the last-block variant: scope, attention and branches), decoding (logits of every window
at the original size, with the logits-stage steps) and correction (the scores-stage steps, e.g. CorrCLIP's map
correction, and the labels). The softmax over names and the text side are not in any stage.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from mmseg.structures import SegDataSample

from .clock import InclusiveTimes, sync
from .hooks import timed_stages

# The segmentor's stages (and its parts' forwards) -> the columns of the table.
STAGE_COLUMNS: Dict[str, str] = {
    'region_generator': 'masks', 'vfm': 'vfm', 'final_attn': 'correlation', 'inference.encode': 'encode',
    'head.prepare': 'encode', 'scoring.logits': 'decode', 'scores.labels': 'correction',
    'affinity': 'sam_encoder', 'inference.splice': 'splice', 'inference.aggregate': 'aggregation',
    'vfm.stitched': 'vfm', 'final_attn.stitched': 'correlation', 'final_attn.windows': 'clip_in_correlation'}


def stage_column(name: str, owner: Any) -> Optional[str]:
    """The table column a stage's time goes to (None: none of them)."""
    if name == 'step':
        return 'correction' if owner.stage == 'scores' else None  # logits-stage steps are inside decoding
    return STAGE_COLUMNS.get(name)


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
    """Seconds per stage for one image (1, 3, H, W) through ``model.predict``; ``masks_cached`` is the region
    generator's call made again (it reads its disk cache)."""
    device = image.device
    times = InclusiveTimes(device)
    calls: List[tuple] = []
    handle = model.region_generator.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append((args, kwargs)), with_kwargs=True) \
        if model.region_generator is not None else None
    sample = SegDataSample(metainfo=dict(meta, img_shape=tuple(image.shape[-2:])))
    try:
        with torch.no_grad(), timed_stages(model, times, stage_column):
            model.predict(image, [sample])
    finally:
        if handle is not None:
            handle.remove()
    totals = dict(times.totals)
    if calls:
        args, kwargs = calls[0]
        sync(device)
        start = time.perf_counter()
        model.region_generator(*args, **kwargs)
        sync(device)
        totals['masks_cached'] = time.perf_counter() - start
    encode = totals.pop('encode', 0.0)
    # a stitched variant runs the windows' CLIP blocks inside its own forward: they are CLIP's time
    totals['correlation'] = totals.get('correlation', 0.0) - totals.pop('clip_in_correlation', 0.0)
    totals['clip'] = encode - sum(totals.get(k, 0.0) for k in ('vfm', 'correlation', 'splice', 'sam_encoder',
                                                                'aggregation'))
    totals.setdefault('correction', 0.0)
    totals['total'] = sum(v for k, v in totals.items() if k != 'masks_cached')
    return totals


def print_stage_table(rows: Dict[str, Dict[str, float]]) -> None:
    keys: List[str] = ['masks', 'masks_cached', 'vfm', 'clip', 'correlation', 'splice', 'sam_encoder', 'aggregation',
                       'decode', 'correction', 'total']
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
