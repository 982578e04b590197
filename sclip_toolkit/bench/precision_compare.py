"""fp32 against a lower precision, per image and per method (``tools/benchmark.py --precision-compare``).

Both models of a method are built from the same weights and kept in memory; their ``predict`` calls alternate on
the same image, so machine load affects both alike. Reported per precision: the best process CPU time (all
threads; the comparable figure on a shared machine) and the best wall time, the speed-up, and the share of pixels
whose label equals fp32's. Region masks (CorrCLIP's SAM 2) do not depend on the CLIP precision: they are computed
once, outside the timings, read from the disk cache by both models, and their own time is printed apart.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import torch
from mmseg.structures import SegDataSample

from .profiling import scratch_dir

_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16, 'fp32': torch.float32}


def predict_labels(model, image: torch.Tensor, meta: dict) -> torch.Tensor:
    """Label map (H, W) of one preprocessed image (1, 3, H, W) through the segmentor's ``predict``."""
    with torch.no_grad():
        sample = model.predict(image, [SegDataSample(metainfo=dict(meta))])[0]
    return sample.pred_sem_seg.data[0]


def timed_labels(model, image: torch.Tensor, meta: dict) -> Tuple[float, float, torch.Tensor]:
    """(process CPU seconds, wall seconds, labels (H, W)) of one ``predict``."""
    if image.device.type == 'cuda':
        torch.cuda.synchronize(image.device)
    cpu, wall = time.process_time(), time.perf_counter()
    labels = predict_labels(model, image, meta)
    if image.device.type == 'cuda':
        torch.cuda.synchronize(image.device)
    return time.process_time() - cpu, time.perf_counter() - wall, labels


def compare_precisions(build: Callable[[str], torch.nn.Module], image: torch.Tensor, meta: dict,
                       low: str = 'bf16', repeats: int = 3) -> Dict[str, float]:
    """Time ``predict`` of ``build('fp32')`` and ``build(low)`` alternately; labels compared on the last run.

    Args:
        build: precision ('fp32', 'bf16', ...) -> the segmentor in eval mode.
        image: the preprocessed input (1, 3, H, W); meta: its metainfo (``ori_shape``, ``img_path``).
        low: the precision compared with fp32.
        repeats: timed runs of each model after one warm-up run (the best is kept).

    Returns:
        ``fp32_cpu_s``, ``fp32_wall_s``, ``{low}_cpu_s``, ``{low}_wall_s`` (best of ``repeats``), ``speedup_cpu``,
        ``speedup_wall``, ``agreement`` (share of equal labels), ``rounded_input_agreement`` (fp32 on the input
        rounded to ``low`` against fp32: how far one rounding moves these weights' labels) and ``load_avg``
        (1-minute, at the end).
    """
    if repeats < 1:
        raise ValueError(f'repeats must be >= 1, got {repeats}')
    if low not in _DTYPES:
        raise ValueError(f"low precision must be one of {', '.join(_DTYPES)}, got {low!r}")
    models = {precision: build(precision) for precision in ('fp32', low)}
    best: Dict[str, List[float]] = {precision: [float('inf'), float('inf')] for precision in models}
    labels: Dict[str, torch.Tensor] = {}
    for precision, model in models.items():  # warm-up: text embeddings, allocator, oneDNN kernels
        model.class_embeddings()
        labels[precision] = predict_labels(model, image, meta)
    for _ in range(repeats):
        for precision, model in models.items():
            cpu, wall, labels[precision] = timed_labels(model, image, meta)
            best[precision] = [min(best[precision][0], cpu), min(best[precision][1], wall)]
    out = {'fp32_cpu_s': best['fp32'][0], 'fp32_wall_s': best['fp32'][1],
           f'{low}_cpu_s': best[low][0], f'{low}_wall_s': best[low][1]}
    out['speedup_cpu'] = out['fp32_cpu_s'] / out[f'{low}_cpu_s']
    out['speedup_wall'] = out['fp32_wall_s'] / out[f'{low}_wall_s']
    out['agreement'] = (labels['fp32'] == labels[low]).double().mean().item()
    # how sensitive the weights are: fp32 itself on the input rounded once to the low precision
    rounded = predict_labels(models['fp32'], image.to(_DTYPES[low]).to(image.dtype), meta)
    out['rounded_input_agreement'] = (labels['fp32'] == rounded).double().mean().item()
    out['load_avg'] = _load_average()
    return out


def _load_average() -> float:
    try:
        import os
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return float('nan')


def print_precision_table(rows: Dict[str, Dict[str, float]], low: str = 'bf16') -> None:
    """One line per method: fp32 and ``low`` seconds per image (CPU and wall), speed-ups, label agreement."""
    print(f'{"method":<12}{"fp32 CPU s":>12}{low + " CPU s":>12}{"speed-up":>10}{"fp32 wall":>11}{low + " wall":>11}'
          f'{"speed-up":>10}{"agreement":>11}{"fp32, input rounded":>21}{"load":>7}')
    for method, r in rows.items():
        print(f'{method:<12}{r["fp32_cpu_s"]:12.3f}{r[f"{low}_cpu_s"]:12.3f}{r["speedup_cpu"]:9.2f}x'
              f'{r["fp32_wall_s"]:11.3f}{r[f"{low}_wall_s"]:11.3f}{r["speedup_wall"]:9.2f}x'
              f'{100 * r["agreement"]:10.3f}%{100 * r["rounded_input_agreement"]:20.3f}%{r["load_avg"]:7.1f}')


def precision_compare_main(args, methods: List[str]) -> Dict[str, Dict[str, float]]:
    """``tools/benchmark.py --precision-compare``: the table of :func:`compare_precisions` for ``methods``.

    Random full-size weights (``args.preset``, vision in-projections scaled by ``args.random_attn_gain``; a DINO
    ViT-B/8 for VFM methods) unless ``args.checkpoint`` / ``args.vfm_checkpoint`` are given; the input is a random
    image of ``args.image_size``, fed as the network input (no resize).
    """
    from sclip_toolkit.apis import build_segmentor
    from sclip_toolkit.config import load_config
    from sclip_toolkit.models.regions import SAM2Masks
    from sclip_toolkit.bench.stage_timing import clip_input, image_file, random_sam2
    from sclip_toolkit.testing import random_clip_state_dict, write_random_vfm

    device = torch.device(args.device or 'cpu')
    height, width = (int(v) for v in args.image_size.lower().split('x'))
    tmp = scratch_dir('sclip_precision_')
    checkpoint = args.checkpoint
    if checkpoint is None:  # random weights; a lower attention gain gives less peaked, less chaotic attention
        checkpoint = str(tmp / 'random_clip.pt')
        torch.save(random_clip_state_dict(args.preset, attn_gain=args.random_attn_gain, dtype=torch.float16),
                   checkpoint)
    path = image_file(tmp, height, width)
    image = clip_input(path).to(device)
    meta = dict(img_path=str(path), ori_shape=(height, width), img_shape=(height, width))
    low = args.low_precision
    rows: Dict[str, Dict[str, float]] = {}
    for method in methods:
        config = method if method.endswith('.py') else f'{method}/{method}_{args.dataset}'
        sam2 = None

        def build(precision: str):
            nonlocal sam2
            options = {**(args.cfg_options or {}), 'model.clip.precision': precision}
            cfg = load_config(config, checkpoint=checkpoint, cfg_options=options)
            if cfg.model.clip.get('vfm') is not None and not cfg.model.clip.vfm.get('checkpoint'):
                random_vfm = tmp / 'dino_vitb8.pth'  # full-size DINO ViT-B/8, written once
                if not args.vfm_checkpoint and not random_vfm.is_file():
                    write_random_vfm(random_vfm, 'dino', embed_dim=768, depth=12, patch_size=8, grid=28)
                cfg.model.clip.vfm.checkpoint = args.vfm_checkpoint or str(random_vfm)
            cfg.model.text_encoder.cache = str(tmp / 'text_cache')
            cfg.model.data_preprocessor.short_side = None  # the image is the network input
            model = build_segmentor(cfg, device)
            if isinstance(model.region_generator, SAM2Masks):  # one SAM 2 and one mask cache for both models
                first = sam2 is None
                sam2 = sam2 or (None if args.sam2_checkpoint else random_sam2(args.sam2_size))
                model.region_generator = SAM2Masks(size=args.sam2_size, checkpoint=args.sam2_checkpoint,
                                                   cache_dir=tmp / 'regions', model=sam2)
                start = time.process_time()
                model.region_generator(image, meta)  # computed once, then read from the cache by both
                if first:
                    print(f'{method}: region masks (SAM 2 in fp32, not in the timings) '
                          f'{time.process_time() - start:.3f} CPU s', flush=True)
            return model

        rows[method] = compare_precisions(build, image, meta, low=low, repeats=args.repeats)
        print(f'{method}: {config}, input {height}x{width}, {rows[method]["speedup_cpu"]:.2f}x CPU, '
              f'{100 * rows[method]["agreement"]:.3f}% equal labels', flush=True)
    print_precision_table(rows, low)
    return rows
