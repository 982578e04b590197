"""Time and memory of each stage of a method, on CPU or CUDA, with real weights or a full-size random ViT.

    python tools/benchmark.py --method sclip --image-size 336x448 --vocab configs/classnames/cls_voc21.txt
    python tools/benchmark.py --method naclip --num-names 847 --image-size 512x683 --memory-only
    python tools/benchmark.py --method proxyclip --device cuda --crop-batch-sizes 1 8 32
    python tools/benchmark.py --method corrclip --stages --compare proxyclip --no-text

Prints: weight loading; text embeddings cold (every prompt at the full 77-token context, as the references do,
and length-grouped) and warm (disk cache); per-image inference with all crops batched vs one crop at a time;
post-processing; images per second; peak memory with full-resolution scores vs streaming labels; and the image
encoder's achieved FLOP/s next to a plain matmul's on the same device; with ``--crop-batch-sizes``, images/s with
that many crops per encoder pass. Without ``--checkpoint`` it writes a random ViT-B/16 in the OpenAI layout (same
shapes and cost as the real one), and for ProxyCLIP without ``--vfm-checkpoint`` a random DINO of the config's size.
``--stages`` instead times one image by stage (region masks, VFM, CLIP, correlation, decoding, correction; sclip_toolkit/stage_timing.py) for the method and the
``--compare`` methods on the same random weights: without ``--vfm-checkpoint`` a random full-size DINO ViT-B/8, and
for SAM 2 region generators without ``--sam2-checkpoint`` a random SAM 2 of ``--sam2-size`` (default tiny).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

from sclip_toolkit.config import DictAction, load_config
from sclip_toolkit.profiling import exact_cpu_memory_accounting, peak_memory
from sclip_toolkit.models.text import build_text_classifier, flatten_names, parse_class_names
from sclip_toolkit.testing import write_random_clip, write_random_vfm

# Random VFM sizes per CLIP preset: full-size ViT-B (DINO ViT-B/8: 768 wide, 12 blocks, 224 px) or the tiny test one.
VFM_SIZES = {'ViT-B/16': dict(embed_dim=768, depth=12, grid=28), 'ViT-L/14': dict(embed_dim=768, depth=12, grid=28),
             'tiny': {}}


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def timed(fn: Callable, device: torch.device, repeats: int = 1) -> float:
    """Best wall time of ``repeats`` calls (seconds)."""
    best = float('inf')
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def vit_flops(clip, height: int, width: int) -> float:
    """Multiply-adds x 2 of the image encoder on one (height, width) input (matmuls only)."""
    visual = clip.visual
    p, d = clip.patch_size, visual.transformer.width
    t = (height // p) * (width // p) + 1
    per_block = 2 * t * (4 * d * d + 2 * d * 4 * d) + 2 * 2 * t * t * d  # qkv+out, mlp, scores+mix
    embed = 2 * (t - 1) * 3 * p * p * d
    return float(embed + clip.num_blocks * per_block + 2 * t * d * visual.proj.shape[1])


def matmul_flops_per_s(device: torch.device, dtype: torch.dtype, n: int = 2048) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    (a @ b).sum().item()
    return 2 * n ** 3 / timed(lambda: a @ b, device, repeats=3)


def crop_batch_throughput(model, image: torch.Tensor, sizes: List[int], device: torch.device, repeats: int
                          ) -> Dict[str, float]:
    """Per-image time and the bare encoder's rate with ``size`` crops per encoder pass, for each size.

    The image gives ``n`` crops; per image runs them ``size`` at a time (at most ``n``). The encoder alone runs
    exactly ``size`` crops in one pass, and images/s is its crops/s over ``n``, what a dataset run with crops of
    several images batched together could reach.
    """
    out: Dict[str, float] = {}
    saved = model.inference.batch_size
    crops = model.inference.encode(model.clip, image)
    n_crops = len(crops.boxes)
    crop_h, crop_w = crops.padded_shape
    for size in sizes:
        model.inference.batch_size = size
        out[f'per_image_bs{size}_s'] = timed(lambda: model.inference.encode(model.clip, image), device, repeats)
        batch = torch.randn(size, 3, crop_h, crop_w, device=device)
        with torch.no_grad():
            text = model.class_embeddings()  # for variants that read it (ResCLIP)
            model.clip.encode_dense(batch, text=text)  # warm-up: kernels and allocator for this shape
            out[f'encoder_bs{size}_s'] = timed(lambda: model.clip.encode_dense(batch, text=text), device, repeats)
        out[f'images_per_s_bs{size}'] = size / out[f'encoder_bs{size}_s'] / n_crops
        print(f'{size:3d} crops per pass: image encoder {size / out[f"encoder_bs{size}_s"]:8.1f} crops/s = '
              f'{out[f"images_per_s_bs{size}"]:7.2f} images/s ({n_crops} crops of {crop_h}x{crop_w} per image); '
              f'one image, crops {min(size, n_crops)} at a time: {out[f"per_image_bs{size}_s"]:.3f} s')
    model.inference.batch_size = saved
    return out


def _fmt_bytes(n: float) -> str:
    return f'{n / 2 ** 20:.0f} MiB'


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--method', default='sclip',
                    help='config name (sclip, naclip, clearclip, scclip, proxyclip, resclip) or a config path')
    ap.add_argument('--dataset', default='voc21', help='dataset part of the config name (default voc21)')
    ap.add_argument('--checkpoint', help='CLIP weights file; default: a random full-size model of --preset')
    ap.add_argument('--vfm-checkpoint', help='VFM weights file (ProxyCLIP); default: a random one of --preset\'s size')
    ap.add_argument('--preset', default='ViT-B/16', help='random model size when no checkpoint: ViT-B/16, tiny, ...')
    ap.add_argument('--vocab', help='class-name file (default: the config\'s)')
    ap.add_argument('--num-names', type=int, help='use this many names (repeating the vocabulary with suffixes)')
    ap.add_argument('--image-size', default='336x448', help='HxW of the network input (after the resize)')
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--device', default=None)
    ap.add_argument('--memory-only', action='store_true', help='only the peak-memory comparison')
    ap.add_argument('--no-text', action='store_true', help='skip the text-encoding timings (slow on CPUs)')
    ap.add_argument('--crop-batch-sizes', type=int, nargs='+', metavar='N',
                    help='also time the image encoder with N crops per pass (e.g. 1 8 32) and print images/s')
    ap.add_argument('--cfg-options', nargs='+', action=DictAction)
    ap.add_argument('--large-images', action='store_true',
                    help='peak memory of demo.py and the Segmenter API on large photos (--large-sizes x '
                         '--large-classes), within --max-memory')
    ap.add_argument('--large-sizes', default='4000,10000', help='square image sides for --large-images')
    ap.add_argument('--large-classes', default='3,150', help='class counts for --large-images (150: ADE20K)')
    ap.add_argument('--max-memory', default='2GB', help='the memory bound given to demo and API (--large-images)')
    ap.add_argument('--stages', action='store_true', help='per-stage time of one image (masks, VFM, CLIP, ...)')
    ap.add_argument('--compare', nargs='*', default=[], help='with --stages: more methods timed on the same weights')
    ap.add_argument('--sam2-checkpoint', help='SAM 2 weights; default: a random SAM 2 of --sam2-size')
    ap.add_argument('--sam2-size', default='tiny', help='SAM 2 size for the random model (tiny, small, ...)')
    ap.add_argument('--eval-throughput', action='store_true',
                    help="eval.py's images/s (1 process, and dist_test.sh 2) next to the bare per-image predict")
    ap.add_argument('--warm-start', action='store_true',
                    help="Segmenter(...) to the first crop's forward in a fresh process (weights file, cached text)")
    ap.add_argument('--eval-images', type=int, default=20, help='dataset size for --eval-throughput')
    ap.add_argument('--eval-threads', type=int, help='torch threads for --eval-throughput (default: the cores)')
    args = ap.parse_args(argv)
    if args.eval_throughput or args.warm_start:
        return eval_speed_main(args)
    if args.large_images:
        return large_images(args)
    if args.stages:
        return stages_main(args)

    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    exact_cpu_memory_accounting()
    height, width = (int(v) for v in args.image_size.lower().split('x'))
    config = args.method if args.method.endswith('.py') else f'{args.method}/{args.method}_{args.dataset}'
    tmp = Path(tempfile.mkdtemp(prefix='sclip_bench_'))
    checkpoint = args.checkpoint
    if checkpoint is None:
        checkpoint = str(write_random_clip(tmp / 'random_clip.pt', preset=args.preset, dtype=torch.float16))
    cfg = load_config(config, checkpoint=checkpoint, cfg_options=args.cfg_options)
    if cfg.model.clip.get('vfm') is not None and not cfg.model.clip.vfm.get('checkpoint'):
        vfm = cfg.model.clip.vfm
        cfg.model.clip.vfm.checkpoint = args.vfm_checkpoint or str(write_random_vfm(
            tmp / 'random_vfm.pt', vfm.family, patch_size=vfm.get('patch_size') or 8,
            **VFM_SIZES.get(args.preset, {})))
    text_cfg = cfg.model.text_encoder
    text_cfg.cache = str(tmp / 'text_cache')
    cfg.model.data_preprocessor.short_side = None  # --image-size is the network input
    names_src = args.vocab or text_cfg.class_names
    classes = parse_class_names(names_src, text_cfg.get('separator', ', '), allow_duplicates=True)
    if args.num_names:
        flat = [n for c in classes for n in c]
        classes = [[flat[i % len(flat)] + ('' if i < len(flat) else f' {i // len(flat)}')]
                   for i in range(args.num_names)]
    text_cfg.class_names = classes

    from sclip_toolkit.apis import build_segmentor
    results: Dict[str, float] = {}
    start = time.perf_counter()
    model = build_segmentor(cfg, device)
    model.clip.apply_precision()
    results['weights_s'] = time.perf_counter() - start
    names, _ = flatten_names(model.classes)
    templates = model.text_encoder.templates
    print(f'device {device}, method {config}, {model.clip.checkpoint_id}, dtype {model.clip.dtype}')
    print(f'vocabulary: {len(model.classes)} classes, {len(names)} names x {len(templates)} templates; '
          f'input {height}x{width}')
    print(f'weights load                    {results["weights_s"]:8.2f} s')

    image = torch.randn(1, 3, height, width, device=device)
    if not args.memory_only and not args.no_text:
        tokens = model.clip.tokenizer()([t.replace('{}', n) for n in names for t in templates])

        def full_context():
            with torch.no_grad():
                for i in range(0, len(tokens), 256):
                    model.clip.encode_text(tokens[i:i + 256].to(device))

        results['text_full_context_s'] = timed(full_context, device)
        results['text_cold_s'] = timed(lambda: build_text_classifier(model.clip, names, templates), device)
        model.class_embeddings()  # fills the disk cache
        fresh = build_segmentor(cfg, device)
        results['text_warm_s'] = timed(lambda: fresh.class_embeddings(), device)
        print(f'text, full 77-token context     {results["text_full_context_s"]:8.2f} s')
        print(f'text, cold (length-grouped)     {results["text_cold_s"]:8.2f} s   '
              f'({results["text_full_context_s"] / results["text_cold_s"]:.1f}x faster)')
        print(f'text, warm (disk cache)         {results["text_warm_s"]:8.3f} s')

    if not args.memory_only:
        model.keep_scores = True
        # variants that read the class embeddings (ResCLIP's feedback) get them, as the segmentor gives them
        text = model.class_embeddings() if model.clip.final_attn.recording(model.clip.num_blocks).text else None

        def encode():  # the windows' features, then the head's per-image work (RF-CLIP: the whole image's CLS)
            crops = model.inference.encode(model.clip, image, text=text)
            model.head.prepare(model.clip, image, crops)
            return crops

        crops = encode()
        n_crops = len(crops.boxes)
        batched = model.inference.batch_size
        model.inference.batch_size = 1
        results['encode_one_crop_at_a_time_s'] = timed(encode, device, args.repeats)
        model.inference.batch_size = batched
        results['encode_batched_s'] = timed(encode, device, args.repeats)
        from sclip_toolkit.models.postprocess import StepContext
        ctx = StepContext(image=image, ori_shape=(height, width))
        decode = lambda: model.scores(crops, ctx)  # noqa: E731
        results['postprocess_s'] = timed(decode, device, args.repeats)
        per_image = results['encode_batched_s'] + results['postprocess_s']
        per_image_single = results['encode_one_crop_at_a_time_s'] + results['postprocess_s']
        results['per_image_s'], results['per_image_one_crop_at_a_time_s'] = per_image, per_image_single
        flops = vit_flops(model.clip, *crops.padded_shape) * n_crops
        results['encoder_flops_per_s'] = flops / results['encode_batched_s']
        results['matmul_flops_per_s'] = matmul_flops_per_s(device, model.clip.dtype)
        print(f'image encoder, one crop at a time {results["encode_one_crop_at_a_time_s"]:6.3f} s  ({n_crops} crops)')
        print(f'image encoder, crops batched    {results["encode_batched_s"]:8.3f} s')
        print(f'decode + post-processing        {results["postprocess_s"]:8.3f} s')
        print(f'per image                       {per_image:8.3f} s   ({1 / per_image:.2f} images/s; one crop at a '
              f'time: {per_image_single:.3f} s, {per_image_single / per_image:.2f}x slower)')
        print(f'encoder achieved                {results["encoder_flops_per_s"] / 1e9:8.1f} GFLOP/s   '
              f'(plain {model.clip.dtype} matmul: {results["matmul_flops_per_s"] / 1e9:.1f} GFLOP/s)')
        if args.crop_batch_sizes:
            results.update(crop_batch_throughput(model, image, args.crop_batch_sizes, device, args.repeats))

    for keep in (True, False) if model.can_stream() else (True,):
        model.keep_scores = keep
        model.predict(image)  # warm-up (text embeddings, allocator)
        mem: Dict[str, float] = {}
        with peak_memory(device, mem):
            model.predict(image)
        results['peak_full_scores_bytes' if keep else 'peak_streaming_bytes'] = mem['peak']
    if 'peak_streaming_bytes' not in results:  # a head or step that needs every name at once (RF-CLIP)
        print(f'peak memory of predict, full-resolution scores {_fmt_bytes(results["peak_full_scores_bytes"])} '
              f'(no streaming path: {type(model.head).__name__} or a post-processing step needs every name)')
        return results
    print(f'peak memory of predict, full-resolution scores {_fmt_bytes(results["peak_full_scores_bytes"])}, '
          f'streaming labels {_fmt_bytes(results["peak_streaming_bytes"])} '
          f'({results["peak_streaming_bytes"] / max(results["peak_full_scores_bytes"], 1):.2f}x)')
    return results


def _large_photo(side: int, seed: int = 0):
    """A (side, side, 3) uint8 photo-like image made quickly: a small random picture blown up with smooth edges."""
    import cv2
    import numpy as np
    small = np.random.RandomState(seed).randint(0, 256, (24, 24, 3), dtype=np.uint8)
    return cv2.resize(small, (side, side), interpolation=cv2.INTER_LINEAR)


def _demo_peak(argv: List[str]) -> float:
    """Peak resident memory (bytes) of one demo.py process, from the kernel's accounting of the child."""
    import os
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parents[1] / 'demo.py'), *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if status != 0:
        raise RuntimeError(f'demo.py {" ".join(argv)} failed:\n{out}\n{err[-2000:]}')
    return usage.ru_maxrss * 1024.0


def large_images(args) -> Dict[str, float]:
    """Peak memory of the Segmenter API (above the level before the call, model loaded and image in memory) and of
    demo.py (whole process, and above the same process on a 64x64 image) on large square photos."""
    import os
    import cv2
    from sclip_toolkit.apis import Segmenter
    from sclip_toolkit.apis.segmenter import parse_bytes

    exact_cpu_memory_accounting()
    tmp = Path(tempfile.mkdtemp(prefix='sclip_large_'))
    os.environ.setdefault('SCLIP_CACHE_DIR', str(tmp / 'text_cache'))  # shared by the demo processes
    checkpoint = args.checkpoint or str(write_random_clip(tmp / 'random_clip.pt', preset=args.preset,
                                                          dtype=torch.float16))
    ade = Path(__file__).resolve().parents[1] / 'configs' / 'classnames' / 'cls_ade20k.txt'
    vocabularies = {3: 'sky; tree; road'}
    options = dict(args.cfg_options or {})
    cfg_argv = ['--cfg-options', *[f'{k}={v}' for k, v in options.items()]] if options else []
    results: Dict[str, float] = {}
    bound = parse_bytes(args.max_memory)
    print(f'device cpu, method {args.method}, {args.preset if not args.checkpoint else args.checkpoint}, '
          f'bound {args.max_memory} ({bound / 2 ** 20:.0f} MiB)')
    seg = Segmenter(args.method, checkpoint=checkpoint, device='cpu', max_memory=bound, cfg_options=options or None)
    tiny = _large_photo(64)
    cv2.imwrite(str(tmp / 'tiny.png'), tiny)
    for n in (int(c) for c in args.large_classes.split(',')):
        classes = vocabularies.get(n) or [line.strip() for line in ade.read_text().splitlines() if line.strip()][:n]
        class_file = tmp / f'classes_{n}.txt'
        class_file.write_text('\n'.join(classes if isinstance(classes, list) else classes.split('; ')) + '\n')
        seg(tiny, class_file)  # text embeddings into the cache (the demo reads them from there)
        demo_argv = ['--class-file', str(class_file), '--method', args.method, '--checkpoint', checkpoint,
                     '--device', 'cpu', '--quiet', '--max-memory', args.max_memory, *cfg_argv]
        base = _demo_peak(['--image', str(tmp / 'tiny.png'), '--out', str(tmp / 'out_tiny'), *demo_argv])
        for side in (int(v) for v in args.large_sizes.split(',')):
            rgb = _large_photo(side)
            mem: Dict[str, float] = {}
            start = time.perf_counter()
            with peak_memory(torch.device('cpu'), mem):
                result = seg(rgb, class_file)
            api_s = time.perf_counter() - start
            kept = 'scores kept' if result.scores is not None else 'labels only'
            del result
            path = tmp / f'photo_{side}.png'
            cv2.imwrite(str(path), rgb[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])
            del rgb
            start = time.perf_counter()
            demo = _demo_peak(['--image', str(path), '--out', str(tmp / f'out_{side}_{n}'), *demo_argv])
            demo_s = time.perf_counter() - start
            path.unlink()
            key = f'{side}x{side}_{n}'
            results[f'api_peak_{key}'], results[f'demo_peak_{key}'] = mem['peak'], demo
            results[f'demo_peak_above_base_{key}'] = demo - base
            print(f'{side}x{side}, {n:4d} classes: API peak {_fmt_bytes(mem["peak"])} ({kept}, {api_s:.0f} s); '
                  f'demo.py peak {_fmt_bytes(demo)} process, {_fmt_bytes(demo - base)} above a 64x64 run '
                  f'({demo_s:.0f} s)')
    return results


def stages_main(args) -> Dict[str, Dict[str, float]]:
    """``--stages``: one image's time by stage for ``--method`` and each ``--compare`` method, same weights."""
    from sclip_toolkit.stage_timing import clip_input, image_file, print_stage_table, random_sam2, stage_times

    from sclip_toolkit.apis import build_segmentor
    from sclip_toolkit.models.regions import SAM2Masks
    from sclip_toolkit.testing import write_random_vfm

    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    height, width = (int(v) for v in args.image_size.lower().split('x'))
    tmp = Path(tempfile.mkdtemp(prefix='sclip_bench_'))
    checkpoint = args.checkpoint or str(write_random_clip(tmp / 'random_clip.pt', preset=args.preset,
                                                          dtype=torch.float16))
    vfm = args.vfm_checkpoint or str(write_random_vfm(tmp / 'dino_vitb8.pth', 'dino', embed_dim=768, depth=12,
                                                      patch_size=8, grid=28))
    path = image_file(tmp, height, width)
    rows = {}
    for method in [args.method, *args.compare]:
        config = method if method.endswith('.py') else f'{method}/{method}_{args.dataset}'
        cfg = load_config(config, checkpoint=checkpoint, vfm_checkpoint=vfm, cfg_options=args.cfg_options)
        cfg.model.text_encoder.cache = str(tmp / 'text_cache')
        cfg.model.data_preprocessor.short_side = None  # the image is the network input
        model = build_segmentor(cfg, device)
        if isinstance(model.region_generator, SAM2Masks):
            model.region_generator = SAM2Masks(
                size=args.sam2_size, checkpoint=args.sam2_checkpoint, cache_dir=tmp / 'regions',
                model=None if args.sam2_checkpoint else random_sam2(args.sam2_size))
        image = clip_input(path).to(device)
        meta = dict(img_path=str(path), ori_shape=(height, width))
        model.class_embeddings()  # text once, outside the timings
        rows[method] = stage_times(model, image, meta)
        print(f'{method}: {config}, {model.clip.checkpoint_id}, input {tuple(image.shape[-2:])}, '
              f'{len(model.inference.windows(*image.shape[-2:]))} windows', flush=True)
    print_stage_table(rows)
    return rows


def eval_speed_main(args) -> Dict[str, float]:
    """``--eval-throughput`` / ``--warm-start`` (sclip_toolkit/eval_timing.py), on a random model of --preset."""
    from sclip_toolkit.eval_timing import eval_throughput, warm_start

    tmp = Path(tempfile.mkdtemp(prefix='sclip_bench_'))
    checkpoint = args.checkpoint or str(write_random_clip(tmp / 'random_clip.pt', preset=args.preset,
                                                          dtype=torch.float16))
    config = args.method if args.method.endswith('.py') else f'{args.method}/{args.method}_{args.dataset}'
    results: Dict[str, float] = {}
    if args.warm_start:
        results.update(warm_start(checkpoint, tmp, args.method if not args.method.endswith('.py') else 'sclip'))
    if args.eval_throughput:
        options = [f'{k}={v}' for k, v in (args.cfg_options or {}).items()]
        results.update(eval_throughput(config, checkpoint, tmp, args.eval_images, cfg_options=options,
                                       repeats=args.repeats, threads=args.eval_threads))
    return results


if __name__ == '__main__':
    main()
