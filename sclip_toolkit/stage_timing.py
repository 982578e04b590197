"""Per-stage timing of region-based and VFM-based methods (``tools/benchmark.py --stages``).

Stages of one image: region masks (the region generator; a second run reads its disk cache), VFM features, CLIP
(patch embedding and every block before the last), correlation (the last-block variant: scope, attention and
branches), decoding (cosine logits of every window at the original size) and correction (the post-processing
steps, e.g. CorrCLIP's map correction). Timers wrap the parts' ``forward``; CLIP is the encoder's total minus the
VFM and the last block.

The per-image breakdown (``tools/benchmark.py --breakdown``, :func:`per_image_breakdown`) times the whole path of
one image file, from reading it to the label map, with a :class:`StageClock`: timing hooks around the segmentor's
parts (reading and resizing, region masks, cutting crops, the encoders, logits and upsampling, window averaging,
the post-processing steps, softmax and thresholds, copy-out) give every moment to the innermost part running, so the
stages add up to the total. Next to it, the bare encoders: the same encoder and mask-generator calls, on the same
inputs, replayed alone.
"""
from __future__ import annotations

import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch

from sclip_toolkit.models.postprocess import StepContext


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


@contextmanager
def wrapped(owner: Any, name: str, wrap: Callable[[Callable], Callable]) -> Iterator[None]:
    """Replace ``owner.name`` (an instance's, a class's or a module's attribute) by ``wrap(original)`` while the
    block runs; the attribute is restored as it was (or removed, when it came from the class)."""
    own = vars(owner)
    had, raw = name in own, own.get(name)
    setattr(owner, name, wrap(getattr(owner, name)))
    try:
        yield
    finally:
        if had:
            setattr(owner, name, raw)
        else:
            delattr(owner, name)


@contextmanager
def _timer(module: torch.nn.Module, key: str, totals: Dict[str, float], device: torch.device,
           names: Tuple[str, ...] = ('forward',)):
    """Add the time of every call of ``module``'s methods ``names`` to ``totals[key]`` while the block runs (calls
    made inside another timed call of the same key count once)."""
    depth = [0]

    def wrap(original):
        def timed(*args, **kwargs):
            if depth[0]:
                return original(*args, **kwargs)
            _sync(device)
            start = time.perf_counter()
            depth[0] += 1
            try:
                out = original(*args, **kwargs)
            finally:
                depth[0] -= 1
            _sync(device)
            totals[key] = totals.get(key, 0.0) + time.perf_counter() - start
            return out
        return timed

    with ExitStack() as stack:
        for name in names:
            if hasattr(module, name):
                stack.enter_context(wrapped(module, name, wrap))
        yield


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
    # stitched (models/stitched.py): the VFM runs as window_state + finish_state, and a variant's forward_stitched
    # runs the windows' CLIP blocks itself (encode_to_last), which count as 'clip'
    with ExitStack() as stack:
        stack.enter_context(_timer(model.clip.final_attn, 'correlation', totals, device,
                                   ('forward', 'forward_stitched')))
        stack.enter_context(_timer(model.clip, 'clip_in_correlation', totals, device, ('encode_to_last',)))
        if model.clip.vfm is not None:
            stack.enter_context(_timer(model.clip.vfm, 'vfm', totals, device,
                                       ('forward', 'window_state', 'finish_state')))
        start = time.perf_counter()
        crops = model.inference.encode(model.clip, image, regions=regions)
        _sync(device)
        encode = time.perf_counter() - start
    inside = totals.pop('clip_in_correlation', 0.0) if hasattr(model.clip.final_attn, 'forward_stitched') and \
        type(model.inference).__name__ == 'StitchedInference' else 0.0
    totals.pop('clip_in_correlation', None)
    totals['correlation'] = totals.get('correlation', 0.0) - inside
    totals['clip'] = encode - totals.get('vfm', 0.0) - totals['correlation']
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


# ---------------------------------------------------------------------------------------------- per-image breakdown
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


class StageClock:
    """Time per stage, each moment given to the innermost open stage (self time), so the stages sum to the total.

    Args:
        clock: seconds now (``time.process_time``: the process's CPU time over all threads, the figure that stays
            comparable on a shared machine; ``time.perf_counter``: wall time).
        device: a CUDA device is synchronised at every stage boundary.
    """

    def __init__(self, clock: Callable[[], float] = time.process_time, device: Optional[torch.device] = None):
        self.clock, self.device = clock, device
        self.totals: Dict[str, float] = {}
        self._open: List[str] = []
        self._mark = 0.0

    def now(self) -> float:
        if self.device is not None:
            _sync(self.device)
        return self.clock()

    def _charge(self, now: float) -> None:
        if self._open:
            key = self._open[-1]
            self.totals[key] = self.totals.get(key, 0.0) + now - self._mark
        self._mark = now

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._charge(self.now())
        self._open.append(name)
        try:
            yield
        finally:
            self._charge(self.now())
            self._open.pop()

    def hook(self, name: str) -> Callable[[Callable], Callable]:
        """A wrapper for :func:`wrapped`: every call of the wrapped function runs in stage ``name``."""
        def wrap(original: Callable) -> Callable:
            def timed(*args, **kwargs):
                with self.stage(name):
                    return original(*args, **kwargs)
            return timed
        return wrap


def _step_stage(step) -> str:
    from sclip_toolkit.models.postprocess import PAMR, RegionVote
    if isinstance(step, PAMR):
        return 'pamr'
    if isinstance(step, RegionVote):
        return 'region_vote'
    return 'logit_steps' if step.stage == 'logits' else 'softmax_thresholds'


@contextmanager
def instrument(model, clock: StageClock) -> Iterator[None]:
    """Timing hooks on the segmentor's parts (see :data:`BREAKDOWN_STAGES`) while the block runs.

    What a hook does not cover is charged to the part around it: the self time of ``predict`` (checks, storing
    the results) is copy-out, of ``inference.encode`` (cutting, padding and normalising crops) crops, of
    ``inference.source`` (adding the windows' logits up and dividing by the counts) window averaging, of
    ``inference.decode`` (the last resize to the original size) logits and upsampling, of ``scores`` (softmax,
    max over each class's names) softmax and thresholds.
    """
    from sclip_toolkit.models import inference as inference_module
    from sclip_toolkit.models.postprocess import ScoreMap, StreamedScores
    hooks: List[Tuple[Any, str, str]] = [
        (model, 'predict', 'copy_out'), (model, '_segment', 'copy_out'), (model, '_check_finite', 'copy_out'),
        (model, 'class_embeddings', 'text'), (model.inference, 'encode', 'crops'), (model.clip, 'encode_dense', 'clip'),
        (model.head, 'prepare', 'head'), (model.inference, 'decode', 'logits_upsample'),
        (model.inference, 'source', 'window_avg'), (inference_module, 'grid_logits', 'logits_upsample'),
        (inference_module, 'grid_map', 'logits_upsample'), (model, 'logits', 'logits_upsample'),
        (model, 'scores', 'softmax_thresholds'), (ScoreMap, 'labels', 'softmax_thresholds'),
        (StreamedScores, 'labels', 'softmax_thresholds')]
    if hasattr(model.inference, 'source_rows'):  # the rows of the window average (the large-image path)
        hooks.append((model.inference, 'source_rows', 'window_avg'))
    if model.clip.vfm is not None:
        hooks.append((model.clip.vfm, 'forward', 'vfm'))
    if model.region_generator is not None:
        hooks.append((model.region_generator, 'forward', 'masks'))
    hooks.extend((step, 'forward', _step_stage(step)) for step in model.post_process)
    with ExitStack() as stack:
        for owner, name, stage in hooks:
            stack.enter_context(wrapped(owner, name, clock.hook(stage)))
        yield


@contextmanager
def recording(model, calls: List[Tuple[Callable, tuple, dict]]) -> Iterator[None]:
    """Record every encoder call (``clip.encode_dense``: CLIP and VFM; the region generator) with its inputs."""
    def wrap(original: Callable) -> Callable:
        def record(*args, **kwargs):
            calls.append((original, args, kwargs))
            return original(*args, **kwargs)
        return record

    with ExitStack() as stack:
        stack.enter_context(wrapped(model.clip, 'encode_dense', wrap))
        if model.region_generator is not None:
            stack.enter_context(wrapped(model.region_generator, 'forward', wrap))
        yield


def replay(calls: List[Tuple[Callable, tuple, dict]]) -> None:
    """Run recorded encoder calls again, alone (a fresh ``extras`` dict where the call had one)."""
    for fn, args, kwargs in calls:
        fn(*args, **{k: ({} if k == 'extras' and v is not None else v) for k, v in kwargs.items()})


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
    from sclip_toolkit.apis.inference import prepare_inputs
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
    with torch.no_grad(), recording(model, calls):
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
        with torch.no_grad(), instrument(model, stages):
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

    def wrap(original: Callable) -> Callable:
        def record(logits, ctx):
            seen.append((logits, ctx))
            return original(logits, ctx)
        return record

    with wrapped(step, 'forward', wrap):
        run_segmentor(model, cfg, [str(path)])
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
