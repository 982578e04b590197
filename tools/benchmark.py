"""Time and memory of each stage of a method, on CPU or CUDA, with real weights or a full-size random ViT.

    python tools/benchmark.py --method sclip --image-size 336x448 --vocab configs/classnames/cls_voc21.txt
    python tools/benchmark.py --method naclip --num-names 847 --image-size 512x683 --memory-only
    python tools/benchmark.py --method proxyclip --device cuda --crop-batch-sizes 1 8 32
    python tools/benchmark.py --method corrclip --stages --compare proxyclip --no-text
    python tools/benchmark.py --method trident --stages --compare corrclip proxyclip --no-text

Prints: weight loading; text embeddings cold (every prompt at the full 77-token context, as the references do,
and length-grouped) and warm (disk cache); per-image inference with all crops batched vs one crop at a time;
post-processing; images per second; peak memory with full-resolution scores vs streaming labels; and the image
encoder's achieved FLOP/s next to a plain matmul's on the same device; with ``--crop-batch-sizes``, images/s with
that many crops per encoder pass. Without ``--checkpoint`` it writes a random ViT-B/16 in the OpenAI layout (same
shapes and cost as the real one), and for ProxyCLIP without ``--vfm-checkpoint`` a random DINO of the config's size.
``--stages --method ovstitcher --compare corrclip sclip sclip+stitched --masks precomputed`` puts OV-Stitcher next to
CorrCLIP and a stitched SCLIP (``+stitched``: the method's windows through ``StitchedInference``) next to SCLIP.
``--stages`` instead times one image by stage (region masks, VFM, CLIP, correlation, decoding, correction;
sclip_toolkit/bench/stage_timing.py) for the method and the
``--compare`` methods on the same random weights: without ``--vfm-checkpoint`` a random full-size DINO ViT-B/8, and
for SAM 2 region generators without ``--sam2-checkpoint`` a random SAM 2 of ``--sam2-size`` (default tiny). Trident
(random DINO ViT-B/16 and SAM ViT-B, refinement on with every mask passing) adds its stages: windows (CLIP + DINO),
splice, SAM encoder, aggregation; its refinement is the 'correction' column.
``--breakdown --methods all`` times, for every method and ``--image-sizes`` (image files of that size read through
the config's own pipeline and resize), one image's whole path by stage (loading and resize, crops, encoders, logits
and upsampling, window averaging, PAMR, softmax and thresholds, copy-out) next to its bare encoders: the same CLIP
(and VFM, and mask generator) calls replayed alone; process CPU time on CPU (sclip_toolkit/bench/stage_timing.py).
``--precision-compare sclip naclip ...`` times each method per image in fp32 and in ``--low-precision`` (bf16) back to
back in one process and prints the speed-up and the share of equal labels.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch

from sclip_toolkit.cli.args import add_cfg_options, cfg_options
from sclip_toolkit.config import load_config
from sclip_toolkit.bench.profiling import exact_cpu_memory_accounting, peak_memory, scratch_dir
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
    add_cfg_options(ap, example='model.text_encoder.templates=single')
    ap.add_argument('--large-images', action='store_true',
                    help='peak memory of demo.py and the Segmenter API on large photos (--large-sizes x '
                         '--large-classes), within --max-memory')
    ap.add_argument('--large-sizes', default='4000,10000', type=_large_sizes,
                    help='image sizes for --large-images: square sides or HxW (e.g. 4000,1500x12000)')
    ap.add_argument('--large-classes', default='3,150', type=_positive_ints,
                    help='class counts for --large-images (150: ADE20K; up to 847: ADE20K-847; more: numbered)')
    ap.add_argument('--no-demo', action='store_true', help='with --large-images: the API only, not demo.py')
    ap.add_argument('--max-memory', default='2GB', help='the memory bound given to demo and API (--large-images)')
    ap.add_argument('--stages', action='store_true', help='per-stage time of one image (masks, VFM, CLIP, ...)')
    ap.add_argument('--compare', nargs='*', default=[], help='with --stages: more methods timed on the same weights')
    ap.add_argument('--sam2-checkpoint', help='SAM 2 weights; default: a random SAM 2 of --sam2-size')
    ap.add_argument('--sam2-size', default='tiny', help='SAM 2 size for the random model (tiny, small, ...)')
    ap.add_argument('--masks', choices=('sam2', 'precomputed', 'grid'), default='sam2',
                    help='regions of methods that use them: a random SAM 2 (default), a precomputed map (--stages) '
                         'or a grid of 48-pixel cells (--large-images); the last two take no mask time')
    ap.add_argument('--breakdown', action='store_true',
                    help='per-image time by stage next to the bare encoders, for --methods and --image-sizes')
    ap.add_argument('--methods', nargs='+', default=None,
                    help='with --breakdown: method names, or "all" (default: --method)')
    ap.add_argument('--image-sizes', nargs='+', default=['336x448', '480x640'],
                    help='with --breakdown: HxW of the image files (resized as the config says)')
    ap.add_argument('--precision-compare', nargs='*', metavar='METHOD',
                    help='per image fp32 vs --low-precision for these methods (none: --method): CPU and wall '
                         'seconds, speed-up, label agreement (sclip_toolkit/bench/precision_compare.py)')
    ap.add_argument('--low-precision', default='bf16', help='with --precision-compare: bf16 (default) or fp16')
    ap.add_argument('--random-attn-gain', type=float, default=3.0,
                    help='with --precision-compare and no --checkpoint: scale of the random vision in-projections '
                         '(3: the test models\' peaked attention, where rounding moves more labels; 1: plain init)')
    ap.add_argument('--eval-throughput', action='store_true',
                    help="eval.py's images/s (1 process, and dist_test.sh 2) next to the bare per-image predict")
    ap.add_argument('--warm-start', action='store_true',
                    help="Segmenter(...) to the first crop's forward in a fresh process (weights file, cached text)")
    ap.add_argument('--eval-images', type=int, default=20, help='dataset size for --eval-throughput')
    ap.add_argument('--eval-threads', type=int, help='torch threads for --eval-throughput (default: the cores)')
    args = ap.parse_args(argv)
    args.cfg_options = cfg_options(args)
    if args.precision_compare is not None:
        from sclip_toolkit.bench.precision_compare import precision_compare_main
        return precision_compare_main(args, args.precision_compare or [args.method])
    if args.eval_throughput or args.warm_start:
        return eval_speed_main(args)
    if args.large_images:
        return large_images(args)
    if args.stages:
        return stages_main(args)
    if args.breakdown:
        return breakdown_main(args)

    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    exact_cpu_memory_accounting()
    height, width = (int(v) for v in args.image_size.lower().split('x'))
    config = args.method if args.method.endswith('.py') else f'{args.method}/{args.method}_{args.dataset}'
    tmp = scratch_dir('sclip_bench_')
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


def _region_file(image: Path) -> Path:
    """A region map for ``image`` in the published-mask format (``masks/<stem>.npz``): blocks of 48 pixels with
    random ids, a third of them 0 (unsegmented); written once."""
    import cv2
    import numpy as np
    out = image.parent / 'masks' / f'{image.stem}.npz'
    if not out.is_file():
        height, width = cv2.imread(str(image)).shape[:2]
        rng = np.random.RandomState(0)
        shape = (height // 48 + 1, width // 48 + 1)
        cells = rng.randint(0, 24, shape) * (rng.rand(*shape) > 0.33)
        out.parent.mkdir(exist_ok=True)
        np.savez_compressed(out, instance_mask=np.kron(cells, np.ones((48, 48), np.int64))[:height, :width])
    return out


def _large_photo(height: int, width: Optional[int] = None, seed: int = 0):
    """A (height, width, 3) uint8 photo-like image made quickly: a small random picture blown up with smooth
    edges (square when ``width`` is None)."""
    import cv2
    import numpy as np
    small = np.random.RandomState(seed).randint(0, 256, (24, 24, 3), dtype=np.uint8)
    return cv2.resize(small, (width or height, height), interpolation=cv2.INTER_LINEAR)


def _positive_ints(text: str) -> List[int]:
    """'3,150' -> [3, 150] (argparse type: a wrong value is one line naming the option)."""
    try:
        values = [int(v) for v in text.split(',')]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f'expected whole numbers >= 1 separated by commas, e.g. 3,150; got {text!r}')
    return values


def _large_sizes(text: str) -> List[Tuple[int, int]]:
    """'4000,1500x12000' -> [(4000, 4000), (1500, 12000)]: square sides or HxW."""
    sizes = []
    for item in text.split(','):
        height, sep, width = item.partition('x')
        try:
            sizes.append((_positive_ints(height)[0], _positive_ints(width if sep else height)[0]))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f'expected square sides or HxW sizes separated by commas, e.g. '
                                             f'4000,1500x12000; got {text!r}') from None
    return sizes


def _large_vocabulary(n: int) -> List[str]:
    """``n`` class names: ADE20K's 150, then ADE20K-847's, then numbered ones."""
    root = Path(__file__).resolve().parents[1] / 'configs' / 'classnames'
    classes: List[str] = []
    used = set()
    for path in (root / 'cls_ade20k.txt', root / 'cls_ade20k847__proxyclip.txt'):
        for line in path.read_text().splitlines():
            names = [name.strip() for name in line.split(',') if name.strip()]
            if names and not used.intersection(names):  # a name belongs to one class
                classes.append(', '.join(names))
                used.update(names)
    return (classes + [f'object {i}' for i in range(len(classes), n)])[:n]


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
    from sclip_toolkit.apis import parse_bytes
    from sclip_toolkit.methods import method_base

    exact_cpu_memory_accounting()
    tmp = scratch_dir('sclip_large_')
    os.environ.setdefault('SCLIP_CACHE_DIR', str(tmp / 'text_cache'))  # shared by the demo processes
    checkpoint = args.checkpoint or str(write_random_clip(tmp / 'random_clip.pt', preset=args.preset,
                                                          dtype=torch.float16))
    vocabularies = {3: 'sky; tree; road'}
    options = dict(args.cfg_options or {})
    cfg_argv = ['--cfg-options', *[f'{k}={v}' for k, v in options.items()]] if options else []
    results: Dict[str, float] = {}
    bound = parse_bytes(args.max_memory)
    print(f'device cpu, method {args.method}, {args.preset if not args.checkpoint else args.checkpoint}, '
          f'bound {args.max_memory} ({bound / 2 ** 20:.0f} MiB)')
    vfm, method_cfg = None, load_config(str(method_base(args.method)))
    if method_cfg.model.clip.get('vfm') is not None:  # OV-Stitcher, ProxyCLIP, CorrCLIP
        vfm = args.vfm_checkpoint or str(_random_dino_b8(tmp))
        args.no_demo = True  # the demo would need the same VFM and regions: the API alone is measured
    extra = {}
    if args.masks == 'grid' and method_cfg.model.get('region_generator') is not None:
        extra['model.region_generator'] = dict(type='GridRegions', cell=48)
    seg = Segmenter(args.method, checkpoint=checkpoint, vfm_checkpoint=vfm, device='cpu', max_memory=bound,
                    cfg_options={**options, **extra} or None)
    tiny = _large_photo(64)
    cv2.imwrite(str(tmp / 'tiny.png'), tiny)
    for n in args.large_classes:
        classes = vocabularies.get(n) or _large_vocabulary(n)
        class_file = tmp / f'classes_{n}.txt'
        class_file.write_text('\n'.join(classes if isinstance(classes, list) else classes.split('; ')) + '\n')
        seg(tiny, class_file)  # text embeddings into the cache (the demo reads them from there)
        demo_argv = ['--class-file', str(class_file), '--method', args.method, '--checkpoint', checkpoint,
                     '--device', 'cpu', '--quiet', '--max-memory', args.max_memory, *cfg_argv]
        if not args.no_demo:
            base = _demo_peak(['--image', str(tmp / 'tiny.png'), '--out', str(tmp / 'out_tiny'), *demo_argv])
        for height, width in args.large_sizes:
            rgb = _large_photo(height, width)
            mem: Dict[str, float] = {}
            start = time.perf_counter()
            with peak_memory(torch.device('cpu'), mem):
                result = seg(rgb, class_file)
            api_s = time.perf_counter() - start
            kept = 'scores kept' if result.scores is not None else 'labels only'
            del result
            key = f'{height}x{width}_{n}'
            results[f'api_peak_{key}'] = mem['peak']
            line = f'{height}x{width}, {n:4d} classes: API peak {_fmt_bytes(mem["peak"])} ({kept}, {api_s:.0f} s)'
            if args.no_demo:
                print(line, flush=True)
                continue
            path = tmp / f'photo_{key}.png'
            cv2.imwrite(str(path), rgb[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])
            del rgb
            start = time.perf_counter()
            demo = _demo_peak(['--image', str(path), '--out', str(tmp / f'out_{key}'), *demo_argv])
            demo_s = time.perf_counter() - start
            path.unlink()
            results[f'demo_peak_{key}'], results[f'demo_peak_above_base_{key}'] = demo, demo - base
            print(f'{line}; demo.py peak {_fmt_bytes(demo)} process, {_fmt_bytes(demo - base)} above a 64x64 run '
                  f'({demo_s:.0f} s)', flush=True)
    return results


def _random_dino_b8(folder: Path) -> Path:
    """A random full-size DINO ViT-B/8 checkpoint in ``folder`` (OV-Stitcher's, CorrCLIP's, ProxyCLIP's VFM)."""
    return write_random_vfm(folder / 'dino_vitb8.pth', 'dino', embed_dim=768, depth=12, patch_size=8, grid=28)


def random_trident_sam(cfg) -> None:
    """Trident with a random SAM ViT-B (segment-anything's builder, seed 0) for the affinity and the refinement;
    the refinement's thresholds let every region prompt the decoder and every mask pass (its most work)."""
    from sclip_toolkit.testing import random_sam
    sam = random_sam('vit_b')
    cfg.model.inference.affinity.model = sam
    for step in cfg.model.post_process:
        if step.type == 'SAMRefinement':
            step.update(model=sam, coarse_thresh=0.0, iou_thresh=-100.0)
        elif step.type == 'ProbThreshold':
            step.threshold = 0.0


def stages_main(args) -> Dict[str, Dict[str, float]]:
    """``--stages``: one image's time by stage for ``--method`` and each ``--compare`` method, same weights."""
    from sclip_toolkit.bench.stage_timing import clip_input, image_file, print_stage_table, random_sam2, stage_times

    from sclip_toolkit.apis import build_segmentor
    from sclip_toolkit.models.regions import SAM2Masks

    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    height, width = (int(v) for v in args.image_size.lower().split('x'))
    tmp = scratch_dir('sclip_bench_')
    checkpoint = args.checkpoint or str(write_random_clip(tmp / 'random_clip.pt', preset=args.preset,
                                                          dtype=torch.float16))
    vfm = args.vfm_checkpoint or str(_random_dino_b8(tmp))
    path = image_file(tmp, height, width)
    rows = {}
    for method in [args.method, *args.compare]:
        name, stitched = (method[:-len('+stitched')], True) if method.endswith('+stitched') else (method, False)
        config = name if name.endswith('.py') else f'{name}/{name}_{args.dataset}'
        trident = 'trident' in Path(config).stem
        if trident and not args.vfm_checkpoint:  # Trident's DINO is ViT-B/16
            vfm16 = tmp / 'dino_vitb16.pth'
            if not vfm16.is_file():
                write_random_vfm(vfm16, 'dino', embed_dim=768, depth=12, patch_size=16, grid=14)
        cfg = load_config(config, checkpoint=checkpoint, cfg_options=args.cfg_options, sam_refine=trident)
        if cfg.model.clip.get('vfm') is not None:  # methods without a VFM (SCLIP) ignore it
            cfg.model.clip.vfm.checkpoint = str(vfm16) if trident and not args.vfm_checkpoint else vfm
        if trident:
            random_trident_sam(cfg)
        cfg.model.text_encoder.cache = str(tmp / 'text_cache')
        cfg.model.data_preprocessor.short_side = None  # the image is the network input
        if stitched:  # the method's own windows, stitched (models/inference/stitched.py)
            inference = cfg.model.inference
            cfg.model.inference = dict(type='StitchedInference', crop_size=inference.crop_size,
                                       stride=inference.stride, pad_multiple=inference.get('pad_multiple'),
                                       batch_size=inference.get('batch_size', 16))
        if args.masks == 'precomputed' and cfg.model.get('region_generator') is not None:
            cfg.model.region_generator = dict(type='PrecomputedMasks', folder=str(_region_file(path).parent))
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


def _breakdown_config(method: str, dataset: str, checkpoint: str, vfm: str, cfg_options):
    """The method's config for ``dataset`` (or its base config with the dataset's class names, for methods without
    one, e.g. MaskCLIP), with the random weights, and the settings a tiny tower needs (RF-CLIP's channels)."""
    from sclip_toolkit.config import CONFIG_DIR
    from sclip_toolkit.methods import method_base
    config = f'{method}/{method}_{dataset}'
    own = (CONFIG_DIR / f'{config}.py').is_file()
    cfg = load_config(config if own else str(method_base(method)), checkpoint=checkpoint, cfg_options=cfg_options)
    if not own:
        cfg.model.text_encoder.class_names = f'configs/classnames/cls_{dataset}.txt'
    if cfg.model.clip.get('vfm') is not None:
        cfg.model.clip.vfm.checkpoint = vfm
    return cfg, config if own else f'{method} base + cls_{dataset}'


def breakdown_main(args) -> Dict[tuple, Dict[str, float]]:
    """``--breakdown``: per-image stages next to the bare encoders, every method x image size, same weights."""
    import os
    from sclip_toolkit.apis import build_segmentor
    from sclip_toolkit.methods import available_methods
    from sclip_toolkit.models.attention import build_attention
    from sclip_toolkit.models.postprocess import PAMR
    from sclip_toolkit.models.regions import SAM2Masks
    from sclip_toolkit.bench.breakdown import pamr_cost, per_image_breakdown, print_breakdown
    from sclip_toolkit.bench.stage_timing import image_file, random_sam2
    from sclip_toolkit.testing import PRESETS

    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    clock, clock_name = (time.process_time, 'CPU') if device.type == 'cpu' else (time.perf_counter, 'wall')
    methods = args.methods or [args.method]
    methods = available_methods() if methods == ['all'] else methods
    tmp = scratch_dir('sclip_bench_')
    checkpoint = args.checkpoint or str(write_random_clip(tmp / 'random_clip.pt', preset=args.preset,
                                                          dtype=torch.float16))
    vfm = args.vfm_checkpoint or str(write_random_vfm(tmp / 'random_vfm.pt', 'dino', patch_size=8,
                                                      **VFM_SIZES.get(args.preset, {})))
    sam2 = None
    preset = PRESETS.get(args.preset, PRESETS['ViT-B/16'])
    sizes = [tuple(int(v) for v in size.lower().split('x')) for size in args.image_sizes]
    print(f'device {device}, {args.preset if not args.checkpoint else args.checkpoint}, dataset {args.dataset}, '
          f'{torch.get_num_threads()} threads, load average {" ".join(f"{v:.1f}" for v in os.getloadavg())}')
    rows: Dict[tuple, Dict[str, float]] = {}
    for method in methods:
        cfg, name = _breakdown_config(method, args.dataset, checkpoint, vfm, args.cfg_options)
        fit = build_attention(cfg.model.clip.final_attn).settings_for(preset['vision_width'], preset['vision_layers'])
        for key, value in fit.items():
            cfg.model.clip.final_attn[key] = value
        cfg.model.text_encoder.cache = str(tmp / 'text_cache')
        model = build_segmentor(cfg, device)
        if isinstance(model.region_generator, SAM2Masks):  # masks made every time (no disk cache), as a first run
            if sam2 is None and not args.sam2_checkpoint:
                sam2 = random_sam2(args.sam2_size)
            model.region_generator = SAM2Masks(size=args.sam2_size, checkpoint=args.sam2_checkpoint, cache_dir=False,
                                               model=sam2)
        for height, width in sizes:
            path = image_file(tmp, height, width)
            row = per_image_breakdown(model, cfg, path, repeats=args.repeats, clock=clock)
            rows[(method, f'{height}x{width}')] = row
            print(f'{method} ({name}), image {height}x{width}: bare {row["bare_s"]:.3f} s, full {row["full_s"]:.3f} s '
                  f'({row["ratio"]:.2f}x), the rest {row["rest_s"]:.3f} s ({row["ratio_rest"]:.2f}x), load average '
                  f'{os.getloadavg()[0]:.1f}', flush=True)
            for step in (s for s in model.post_process if isinstance(s, PAMR)):
                cost = pamr_cost(step, model, cfg, path, clock=clock)
                row.update({f'pamr_{k}': v for k, v in cost.items()})
                print(f'  PAMR ({cost["names"]:.0f} names, {step.steps} steps, {cost["height"]:.0f}x'
                      f'{cost["width"]:.0f}): guide and resize {cost["prepare_s"]:.3f} s, affinity '
                      f'{cost["affinity_s"]:.3f} s, per name per step {cost["per_name_step_s"] * 1e3:.2f} ms, '
                      f'total {cost["total_s"]:.3f} s')
    print_breakdown(rows, clock_name)
    return rows


def eval_speed_main(args) -> Dict[str, float]:
    """``--eval-throughput`` / ``--warm-start`` (sclip_toolkit/bench/eval_timing.py), on a random model of --preset."""
    from sclip_toolkit.bench.eval_timing import eval_throughput, warm_start

    tmp = scratch_dir('sclip_bench_')
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
    import sys

    from sclip_toolkit.cli import run_cli
    sys.exit(run_cli(main, 'benchmark.py'))
