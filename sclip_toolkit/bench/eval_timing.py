"""Evaluation throughput and warm start, as ``tools/benchmark.py --eval-throughput`` / ``--warm-start`` print them.

Evaluation throughput: a generated PASCAL VOC 2012 layout (random JPEG images, palette label maps, a val split)
is evaluated by ``eval.py`` (one process, and ``dist_test.sh`` with several), and the images/s of its test loop are
set against the bare per-image cost: the same images already decoded, ``model.test_step`` (resize, normalisation,
``predict``) in a loop, with no loader, metric or hooks.

Warm start: a fresh Python process builds ``Segmenter(...)`` from a local checkpoint, with the text embeddings in
the disk cache, and segments one image; the clock stops when the first crop enters the image encoder. Imports are
timed apart, since they are paid once per process whatever is loaded.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its waited-for children (loader workers, eval.py runs)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def write_voc_layout(root: Path, num_images: int = 20, size: Tuple[int, int] = (375, 500), seed: int = 0
                     ) -> List[Path]:
    """Write ``num_images`` random JPEG images and palette label maps (classes 0..20 plus a 255 border) in the
    PASCAL VOC 2012 layout under ``root`` (the config's data_root) with a val split; returns the image paths."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    images, labels = root / 'JPEGImages', root / 'SegmentationClass'
    split = root / 'ImageSets' / 'Segmentation' / 'val.txt'
    for folder in (images, labels, split.parent):
        folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    paths, stems = [], []
    for i in range(num_images):
        stem = f'2007_{i:06d}'
        # smooth colour fields (a photo's JPEG size and decode cost, not noise's)
        coarse = rng.integers(0, 256, (h // 25 + 1, w // 25 + 1, 3), dtype=np.uint8)
        pixels = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BILINEAR))
        Image.fromarray(pixels).save(images / f'{stem}.jpg', quality=90)
        label = np.repeat(np.repeat(rng.integers(0, 21, (h // 50 + 1, w // 50 + 1)), 50, 0), 50, 1)[:h, :w]
        label = label.astype(np.uint8)
        label[:3], label[-3:], label[:, :3], label[:, -3:] = 255, 255, 255, 255
        png = Image.fromarray(label, mode='P')
        png.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tolist())
        png.save(labels / f'{stem}.png')
        paths.append(images / f'{stem}.jpg')
        stems.append(stem)
    split.write_text('\n'.join(stems) + '\n')
    return paths


def bare_predict(cfg, image_paths: Sequence[Path], device: torch.device, repeats: int = 1) -> Dict[str, float]:
    """Seconds per image of ``model.test_step`` on images decoded beforehand (the text embeddings computed first).

    Returns:
        ``per_image_s`` (best of ``repeats`` passes, wall), ``per_image_cpu_s`` (that pass's process CPU time).
    """
    from mmengine.dataset import Compose, pseudo_collate

    from ..apis.pipeline import build_segmentor

    model = build_segmentor(cfg, device)
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    samples = [pipeline(dict(img_path=str(p), seg_map_path=str(_label_path(p)), reduce_zero_label=False,
                             seg_fields=[])) for p in image_paths]
    batches = [pseudo_collate([s]) for s in samples]
    with torch.no_grad():
        model.test_step(batches[0])  # text embeddings (or the disk cache), allocator warm-up
        best = (float('inf'), 0.0)
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            for batch in batches:
                model.test_step(batch)
            best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    n = len(batches)
    return dict(per_image_s=best[0] / n, per_image_cpu_s=best[1] / n)


def _label_path(image: Path) -> Path:
    return image.parent.parent / 'SegmentationClass' / f'{image.stem}.png'


def run_eval(config: str, data_dir: Path, checkpoint: str, work_dir: Path, cfg_options: Sequence[str],
             processes: int = 1, threads: Optional[int] = None, port: int = 29517) -> Dict[str, float]:
    """Run eval.py (``processes`` 1) or dist_test.sh (more) as a subprocess; returns its metrics.json record with
    the process wall and CPU seconds (children included) added as ``process_s`` and ``process_cpu_s``."""
    # dist_test.sh runs the checkout's .venv python, else the first python on PATH: this interpreter's
    env = dict(os.environ, SCLIP_DATA=str(data_dir), PORT=str(port),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get('PATH', '')]))
    if threads is not None:
        env['OMP_NUM_THREADS'] = str(threads)
    options = ['--checkpoint', checkpoint, '--work-dir', str(work_dir), '--no-progress', '--device', 'cpu',
               '--cfg-options', *cfg_options]
    if processes == 1:
        cmd = [sys.executable, str(ROOT / 'eval.py'), '--config', config, *options]
    else:
        cmd = ['bash', str(ROOT / 'dist_test.sh'), config, str(processes), *options]
    start, cpu = time.perf_counter(), cpu_seconds()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd[:4])} ... failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
    record = json.loads((work_dir / 'metrics.json').read_text())
    return dict(record, process_s=wall, process_cpu_s=cpu)


def eval_throughput(config: str, checkpoint: str, work: Path, num_images: int = 20, size=(375, 500),
                    cfg_options: Sequence[str] = (), dist: bool = True, repeats: int = 1,
                    threads: Optional[int] = None) -> Dict[str, float]:
    """Print and return eval.py's images/s next to the bare per-image predict time (see the module docstring).

    Args:
        threads: torch threads of the bare loop and of eval.py (default: this process's, i.e. the cores); the
            ``dist_test.sh 2`` run gives each of its 2 processes half of them.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    from ..config import load_config

    data = work / 'data'
    voc = data / 'VOCdevkit' / 'VOC2012'
    paths = write_voc_layout(voc, num_images, size)
    cache = work / 'text_cache'
    options = [f'model.text_encoder.cache={cache}', *cfg_options]
    saved = os.environ.get('SCLIP_DATA')
    os.environ['SCLIP_DATA'] = str(data)
    try:
        from ..config import parse_cfg_options
        cfg = load_config(config, checkpoint=checkpoint, cfg_options=parse_cfg_options(options))
    finally:
        if saved is None:
            del os.environ['SCLIP_DATA']
        else:
            os.environ['SCLIP_DATA'] = saved
    threads = torch.get_num_threads()
    print(f'{config}: {num_images} images of {size[0]}x{size[1]} (VOC layout in {voc}), {threads} threads, '
          f'load average {os.getloadavg()[0]:.1f}', flush=True)
    out: Dict[str, float] = {}
    bare = bare_predict(cfg, paths, torch.device('cpu'), repeats)  # also fills the text cache for the runs below
    out.update(bare_s=bare['per_image_s'], bare_cpu_s=bare['per_image_cpu_s'])
    print(f'bare predict (test_step on decoded images)   {bare["per_image_s"]:7.3f} s/image wall '
          f'({1 / bare["per_image_s"]:.3f} images/s), {bare["per_image_cpu_s"]:.3f} s CPU', flush=True)
    runs = [(f'eval.py, 1 process x {threads} threads', 1, threads)]
    if dist:
        runs += [(f'dist_test.sh 2 (2 processes x {max(1, threads // 2)} threads)', 2, max(1, threads // 2))]
    for label, processes, thread_count in runs:
        rec = run_eval(config, data, checkpoint, work / f'eval_{processes}', options, processes, thread_count)
        key = f'eval_{processes}p'
        n_per = -(-num_images // processes)  # rank 0's share
        out[f'{key}_images_per_s'] = rec['images_per_s']
        out[f'{key}_loop_s'], out[f'{key}_process_s'] = rec['loop_s'], rec['process_s']
        out[f'{key}_loop_cpu_s'], out[f'{key}_process_cpu_s'] = rec['loop_cpu_s'], rec['process_cpu_s']
        out[f'{key}_test_step_s'], out[f'{key}_test_step_cpu_s'] = rec['test_step_s'], rec['test_step_cpu_s']
        ratio = rec['images_per_s'] * bare['per_image_s']
        print(f'{label:44s} {1 / rec["images_per_s"]:7.3f} s/image wall ({rec["images_per_s"]:.3f} images/s, '
              f'{ratio:.3f}x the bare rate), test loop {rec["loop_cpu_s"] / n_per:.3f} s CPU/image (rank 0, loader '
              f'workers not counted), outside test_step {(rec["loop_s"] - rec["test_step_s"]) / n_per:.3f} s wall '
              f'{(rec["loop_cpu_s"] - rec["test_step_cpu_s"]) / n_per:.3f} s CPU/image; whole process '
              f'{rec["process_s"]:.1f} s wall, '
              f'{rec["process_cpu_s"]:.1f} s CPU (all processes); mIoU {rec["mIoU"]:.2f}', flush=True)
    print(f'load average {os.getloadavg()[0]:.1f}', flush=True)
    return out


# ------------------------------------------------------------------------------------------------- warm start
_WARM_CHILD = '''
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import numpy as np
from sclip_toolkit.apis import Segmenter
from sclip_toolkit.bench.eval_timing import warm_start_child
t1, c1 = time.perf_counter(), time.process_time()
print(json.dumps(dict(import_s=t1 - t0, import_cpu_s=c1 - c0, **warm_start_child(*sys.argv[1:]))))
'''


class _FirstCrop(Exception):
    """Raised by the hook on the patch embedding: the first crop has reached the image encoder."""


def warm_start_child(checkpoint: str, cache: str, method: str = 'sclip') -> Dict[str, float]:
    """In a fresh process: ``Segmenter(...)`` to the first crop's forward, split into build and the rest."""
    from ..apis import Segmenter

    t0, c0 = time.perf_counter(), time.process_time()
    seg = Segmenter(method, device='cpu', checkpoint=checkpoint, cfg_options={'model.text_encoder.cache': cache})
    t1, c1 = time.perf_counter(), time.process_time()
    marks: Dict[str, float] = {}

    def stop(*_):
        marks.update(wall=time.perf_counter(), cpu=time.process_time())
        raise _FirstCrop

    seg.model.clip.visual.conv1.register_forward_pre_hook(stop)
    try:
        seg(np.zeros((224, 224, 3), np.uint8), ['cat', 'dog'])
    except _FirstCrop:
        pass
    return dict(build_s=t1 - t0, build_cpu_s=c1 - c0, first_crop_s=marks['wall'] - t0,
                first_crop_cpu_s=marks['cpu'] - c0)


def warm_start(checkpoint: str, work: Path, method: str = 'sclip', repeats: int = 3) -> Dict[str, float]:
    """Print and return the best of ``repeats`` warm starts (after one run that fills the text cache)."""
    cache = str(work / 'text_cache')
    runs = []
    for i in range(repeats + 1):
        proc = subprocess.run([sys.executable, '-c', _WARM_CHILD, checkpoint, cache, method], cwd=ROOT,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f'warm-start child failed:\n{proc.stderr[-3000:]}')
        if i:  # the first run computes the text embeddings
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r['first_crop_cpu_s'])
    print(f'warm start ({method}, {Path(checkpoint).name}, text from the disk cache), best of {repeats} fresh '
          f'processes, load average {os.getloadavg()[0]:.1f}:')
    for label, key in (('imports (sclip_toolkit, mmseg, torch)', 'import'), ('Segmenter(...) built', 'build'),
                       ("Segmenter(...) to the first crop's forward", 'first_crop')):
        print(f'  {label:44s} {best[key + "_s"]:6.2f} s wall {best[key + "_cpu_s"]:6.2f} s CPU')
    return best
