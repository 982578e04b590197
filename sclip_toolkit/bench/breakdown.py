"""The per-image breakdown (``tools/benchmark.py --breakdown``): one image file's time through a config's whole path,
from reading it to the label map, by stage, next to its bare encoders.

A :class:`~sclip_toolkit.bench.clock.StageClock` gives every moment to the innermost stage running, so the stages add
up to the total; the stages are the segmentor's public ones and its parts' forwards (:mod:`sclip_toolkit.bench.hooks`),
mapped to the keys of :data:`BREAKDOWN_STAGES` by :func:`breakdown_key`. What a stage does not cover is charged to the
stage around it: the self time of ``predict`` (checks, storing the results) is copy-out, of encoding the windows
(cutting, padding and normalising crops) crops, of the source map (adding the windows' logits up and dividing by the
counts) window averaging, of the logits (the last resize to the original size) logits and upsampling, of the dense
scores (softmax, max over each class's names) softmax and thresholds. Next to it, the bare encoders: the same encoder
and mask-generator calls, on the same inputs, replayed alone.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from .clock import StageClock
from .hooks import recorded_encoder_calls, replay, timed_stages


# Stage keys of the per-image breakdown and how they are printed, in the order of the path of one image.
BREAKDOWN_STAGES: Dict[str, str] = {
    'load_resize': 'loading and resize',
    'masks': 'region masks',
    'crops': 'crops',
    'clip': 'encoder: CLIP',
    'vfm': 'encoder: VFM',
    'head': 'head, per image',
    'logits_upsample': 'logits and upsampling',
    'window_avg': 'window averaging',
    'pamr': 'PAMR',
    'logit_steps': 'other logits steps',
    'softmax_thresholds': 'softmax and thresholds',
    'region_vote': 'region vote',
    'text': 'text lookup',
    'copy_out': 'copy-out',
}
ENCODER_STAGES = ('masks', 'clip', 'vfm')


# The segmentor's stages (and its parts' forwards) -> breakdown keys; a step by its registered type, else its stage.
STAGE_KEYS: Dict[str, str] = {
    'segmentor.predict': 'copy_out', 'scoring.check_finite': 'copy_out', 'inference.encode': 'crops',
    'clip.encode_dense': 'clip', 'head.prepare': 'head', 'scoring.logits': 'logits_upsample',
    'inference.source': 'window_avg', 'inference.grid': 'logits_upsample', 'scoring.scores': 'softmax_thresholds',
    'scores.labels': 'softmax_thresholds', 'text_encoder': 'text', 'vfm': 'vfm', 'region_generator': 'masks'}
STEP_KEYS: Dict[str, str] = {'PAMR': 'pamr', 'RegionVote': 'region_vote'}


def breakdown_key(name: str, owner: Any) -> Optional[str]:
    """The breakdown key of a stage (None: its time stays with the stage around it, e.g. the final attention's)."""
    if name == 'step':
        return STEP_KEYS.get(type(owner).__name__,
                             'logit_steps' if owner.stage == 'logits' else 'softmax_thresholds')
    return STAGE_KEYS.get(name)


def per_image_breakdown(model, cfg, path: Path, repeats: int = 3, clock: Callable[[], float] = time.process_time
                        ) -> Dict[str, float]:
    """One image file's time through the config's whole path, by stage, next to its bare encoders.

    A first run (not timed) records the encoder calls; then ``repeats`` times, back to back, the bare encoders
    (those calls replayed alone: CLIP with the method's final block, the VFM, the region generator) and the full
    path (reading, resizing, ..., copy-out) with every stage timed. The best of each is kept.

    Returns:
        ``bare_s`` (and ``bare_masks_s``: masks alone), ``full_s`` (the sum of the stages), ``measured_s`` (the
        same run timed from outside the hooks), ``ratio`` (full / bare), ``rest_s`` (every stage but the encoders
        and masks), ``ratio_rest`` (1 + rest / bare) and seconds per stage (keys of :data:`BREAKDOWN_STAGES`, those
        that ran).
    """
    from mmengine.registry import init_default_scope
    from sclip_toolkit.apis.pipeline import prepare_inputs
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    device = model.clip.device
    sync_device = device if device.type == 'cuda' else None

    def full_run() -> None:
        with stages.stage('load_resize'):
            data = prepare_inputs(cfg, path)
            batch = model.data_preprocessor({k: [v] for k, v in data.items()}, training=False)
        model.predict(batch['inputs'], batch['data_samples'])

    model.class_embeddings()  # the text side is not part of the per-image time
    calls: List[Tuple[Callable, tuple, dict]] = []
    stages = StageClock(clock, sync_device)
    with torch.no_grad(), recorded_encoder_calls(model, calls):
        full_run()
    generator = model.region_generator
    mask_calls = [c for c in calls if generator is not None and getattr(c[0], '__self__', None) is generator]
    encoder_calls = [c for c in calls if generator is None or getattr(c[0], '__self__', None) is not generator]
    bare: Dict[str, float] = {}
    full: Dict[str, float] = {}
    for _ in range(repeats):
        with torch.no_grad():
            start = stages.now()
            replay(mask_calls)
            masks = stages.now() - start
            replay(encoder_calls)
            total = stages.now() - start
        if not bare or total < bare['bare_s']:
            bare = dict(bare_s=total, bare_masks_s=masks)
        stages = StageClock(clock, sync_device)
        with torch.no_grad(), timed_stages(model, stages, breakdown_key):
            start = stages.now()
            full_run()
            measured = stages.now() - start
        total = sum(stages.totals.values())
        if not full or total < full['full_s']:
            full = dict(stages.totals, full_s=total, measured_s=measured)
    best = dict(bare, **full)
    best['ratio'] = best['full_s'] / best['bare_s']
    # The encoders' share of the full run varies with the machine's load as much as the rest weighs; the rest
    # itself (every stage but the encoders) is small and steadier, so bare + rest is the figure to compare.
    best['rest_s'] = sum(v for _, v in other_stages(best))
    best['ratio_rest'] = 1.0 + best['rest_s'] / best['bare_s']
    return best


def other_stages(row: Dict[str, float]) -> List[Tuple[str, float]]:
    """The stages of a breakdown row besides the encoders, largest first."""
    rest = [(k, row[k]) for k in BREAKDOWN_STAGES if k in row and k not in ENCODER_STAGES]
    return sorted(rest, key=lambda kv: -kv[1])


def print_breakdown(rows: Dict[Tuple[str, str], Dict[str, float]], clock_name: str = 'CPU') -> None:
    """One line per (method, image size): bare encoders, full, ratio, then every stage."""
    keys = [k for k in BREAKDOWN_STAGES if any(k in row for row in rows.values())]
    print(f'per-image {clock_name} seconds: bare encoders (same calls replayed alone) vs the full path, by stage')
    print(f'{"method":<11}{"image":>9}{"bare":>8}{"full":>8}{"ratio":>7}{"rest":>8}{"b+rest":>7}'
          + ''.join(f'{k[:11]:>12}' for k in keys))
    for (method, size), row in rows.items():
        print(f'{method:<11}{size:>9}{row["bare_s"]:8.3f}{row["full_s"]:8.3f}{row["ratio"]:7.2f}{row["rest_s"]:8.3f}'
              f'{row["ratio_rest"]:7.2f}' + ''.join(f'{row[k]:12.4f}' if k in row else f'{"-":>12}' for k in keys))
    print('ratio = full / bare; b+rest = (bare + every stage but the encoders) / bare, steadier on a loaded machine')
    print('stage keys: ' + '; '.join(f'{k} = {v}' for k, v in BREAKDOWN_STAGES.items() if k in keys))
    print('largest stages besides the encoders:')
    for (method, size), row in rows.items():
        top = ', '.join(f'{BREAKDOWN_STAGES[k]} {v:.3f}' for k, v in other_stages(row)[:3])
        print(f'  {method:<11}{size:>9}  {top}')


def pamr_cost(step, model, cfg, path: Path, clock: Callable[[], float] = time.process_time, repeats: int = 2
              ) -> Dict[str, float]:
    """What one PAMR step costs on the logits it gets for an image file: the guide image and logits resized to
    the original size, the neighbour weights (once per image), and the refinement per name channel per step.

    Returns:
        ``names``, ``height``, ``width``, ``prepare_s``, ``affinity_s``, ``per_name_step_s``, ``total_s`` (best of
        ``repeats``).
    """
    import torch.nn.functional as F
    from sclip_toolkit.apis import run_segmentor
    from sclip_toolkit.models.postprocess.pamr import pamr_affinity

    seen: List[tuple] = []
    handle = step.register_forward_pre_hook(lambda module, args: seen.append(args))
    try:
        run_segmentor(model, cfg, [str(path)])
    finally:
        handle.remove()
    logits, ctx = seen[0]

    def best(fn: Callable) -> float:
        times = []
        for _ in range(repeats):
            start = clock()
            fn()
            times.append(clock() - start)
        return min(times)

    def prepare():
        guide = F.interpolate(ctx.image.float(), size=ctx.ori_shape, mode='bilinear', align_corners=False)
        F.interpolate(logits.float(), size=guide.shape[-2:], mode='bilinear', align_corners=True)
        return guide

    guide = prepare()
    with torch.no_grad():
        out = dict(prepare_s=best(prepare), affinity_s=best(lambda: pamr_affinity(guide, step.dilations)),
                   total_s=best(lambda: step(logits, ctx)))
    names = logits.shape[1]
    out['per_name_step_s'] = (out['total_s'] - out['prepare_s'] - out['affinity_s']) / (names * step.steps)
    out.update(names=float(names), height=float(guide.shape[-2]), width=float(guide.shape[-1]))
    return out
