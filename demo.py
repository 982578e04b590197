"""Segment an image with your own words, and see it.

    python demo.py                                    # bundled photo, its classes, SCLIP with OpenAI ViT-B/16
    python demo.py --image street.jpg --classes "sky, cloud; tree; person, man, woman; car; road"
    python demo.py --image scan.png --class-file my_classes.txt --method naclip --device cuda
    python demo.py --compare sclip,naclip,clearclip   # one panel per method, shared legend

In --classes, ';' separates classes and ',' separates names (synonyms) of one class; a class file has one class
per line. Writes to --out (default demo_out/):
    <image>_<method>_overlay.png   the image under the class colours, with a legend (colour, name, % of the image)
    <image>_<method>_labels.png    the label map: palette PNG (mode 'P'), entry i = class i's colour
    <image>_<method>.json          summary: image, size, method, backbone, classes (names, colour, pixel share,
                                   mean score), timing, and where the legend and image sit in the overlay
    <image>_compare.png / .json    with --compare
CLIP weights are read from ~/.cache/clip (or $SCLIP_CLIP_CACHE); --download fetches missing ones. Exit status 2 on
bad arguments or missing weights, with a message saying what to do.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

DEFAULT_OUT = 'demo_out'


def build_parser() -> argparse.ArgumentParser:
    from sclip_toolkit.config import DictAction

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--image', help='image file (default: the bundled example photo)')
    words = ap.add_mutually_exclusive_group()
    words.add_argument('--classes', help='"sky, cloud; tree; person, man, woman": ";" between classes, "," between '
                                         'names of one class')
    words.add_argument('--class-file', help='class-name file: one class per line, names separated by "," or ";"')
    ap.add_argument('--method', help='sclip (default), naclip, clearclip, proxyclip, scclip; baselines vanilla, '
                                     'maskclip')
    ap.add_argument('--compare', help='several methods, comma-separated (e.g. sclip,naclip,clearclip): one panel '
                                      'per method in <image>_compare.png')
    ap.add_argument('--backbone', help='OpenAI CLIP release: ViT-B/16 (default), ViT-B/32, ViT-L/14, ViT-L/14-336; '
                                       'or an open_clip architecture with --pretrained')
    ap.add_argument('--checkpoint', help='CLIP checkpoint file in the OpenAI layout (instead of the cached release)')
    ap.add_argument('--vfm-checkpoint', help="vision foundation model checkpoint (proxyclip; default: DINO ViT-B/8's "
                                             'official file in the torch hub cache)')
    ap.add_argument('--pretrained', help='open_clip pretrained tag, e.g. laion2b_s34b_b88k (default: openai)')
    ap.add_argument('--download', action='store_true', help='download missing official weights (needs internet)')
    ap.add_argument('--device', default=None, help='cpu, cuda, cuda:1 (default: cuda when available, else cpu)')
    ap.add_argument('--out', default=DEFAULT_OUT, help=f'output folder (default: {DEFAULT_OUT})')
    ap.add_argument('--alpha', type=float, default=0.55, help='opacity of the class colours (default: 0.55)')
    ap.add_argument('--quiet', action='store_true', help='no progress messages on stderr')
    ap.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries, key=value')
    ap.add_argument('--max-side', type=int, help='downscale the image first so its longer side is at most this '
                                                 '(pixels); the outputs are at that size and say so')
    ap.add_argument('--max-memory', default=None, help='memory for segmenting beyond the model and the image, '
                                                       'e.g. 2GB (default) or 500MB; larger images are labelled '
                                                       'in row bands, with the same labels')
    return ap


def class_summary(result, colors) -> List[Dict]:
    """Per class: names, colour, pixel count and share, mean score over its pixels (null when it has none)."""
    shares, means = result.pixel_shares(), result.mean_scores()
    counts = np.bincount(result.labels.ravel(), minlength=len(result.classes))
    return [dict(index=i, name=names[0], names=list(names), color=[int(c) for c in colors[i]],
                 pixels=int(counts[i]), pixel_share=float(shares[i]),
                 mean_score=None if math.isnan(means[i]) else float(means[i]))
            for i, names in enumerate(result.classes)]


def segment_and_save(seg, image_path: str, rgb, classes, out: Path, stem: str, alpha: float,
                     label: Dict) -> Tuple[Dict, np.ndarray]:
    """Segment with one Segmenter, write its overlay, label map and JSON; return the summary and the labels."""
    from sclip_toolkit.apis.visualize import class_colors, label_picture, render_overlay

    start = time.perf_counter()
    result = seg(rgb, classes)
    colors = class_colors(len(result.classes))
    picture, layout = render_overlay(rgb, result.labels, result.class_names, colors, result.pixel_shares(), alpha)
    paths = dict(overlay=out / f'{stem}_{seg.method}_overlay.png', labels=out / f'{stem}_{seg.method}_labels.png')
    picture.save(paths['overlay'])
    label_picture(result.labels, colors).save(paths['labels'])
    summary = dict(
        label, method=seg.method, backbone=seg.backbone, checkpoint=seg.checkpoint, device=str(seg.device),
        classes=class_summary(result, colors), scores_kept=result.scores is not None,
        outputs={k: str(v) for k, v in paths.items()},
        overlay_layout=layout,
        timing=dict(load_s=round(seg.load_seconds, 3), text_s=round(result.timing['text_s'], 3),
                    inference_s=round(result.timing['inference_s'], 3),
                    total_s=round(seg.load_seconds + time.perf_counter() - start, 3)))
    with open(out / f'{stem}_{seg.method}.json', 'w', encoding='utf-8') as fh:
        json.dump(summary, fh, indent=2)
    print_summary(summary, image_path, out / f'{stem}_{seg.method}.json')
    return summary, result.labels


def print_summary(summary: Dict, image_path: str, json_path: Path) -> None:
    size = summary['size']
    print(f"{summary['method']} on {image_path} ({size['width']}x{size['height']}), "
          f"{summary['timing']['total_s']:.1f} s:")
    for c in summary['classes']:
        score = '-' if c['mean_score'] is None else f"{c['mean_score']:.2f}"
        print(f"  {c['name'][:28]:<28} {100 * c['pixel_share']:5.1f} %   mean score {score}")
    print(f"  wrote {summary['outputs']['overlay']}, {summary['outputs']['labels']}, {json_path}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.compare and args.method:
        ap.error('give either --method or --compare, not both')
    if args.image and not (args.classes or args.class_file):
        ap.error('with --image, say what to look for: --classes "a, b; c" or --class-file FILE (the default '
                 'classes only suit the bundled photo)')
    if not 0 <= args.alpha <= 1:
        ap.error(f'--alpha must be between 0 and 1, got {args.alpha}')
    methods = [m.strip().lower() for m in (args.compare or args.method or 'sclip').split(',') if m.strip()]
    if len(set(methods)) != len(methods):
        ap.error(f'--compare lists a method twice: {args.compare}')

    from sclip_toolkit.apis.segmenter import (EXAMPLE_CLASSES, EXAMPLE_IMAGE, Segmenter, SegmenterError,
                                              available_methods, check_max_side, downscale, load_image,
                                              parse_bytes, parse_classes)
    from sclip_toolkit.models.checkpoint import CheckpointError
    from sclip_toolkit.models.text import ClassNameError

    try:
        unknown = [m for m in methods if m not in available_methods()]
        if unknown:  # before any model is loaded
            raise SegmenterError(f'unknown method {unknown[0]!r}; valid: {", ".join(available_methods())}')
        image_path = args.image or str(EXAMPLE_IMAGE)
        rgb = load_image(image_path)
        max_memory = parse_bytes(args.max_memory, '--max-memory') if args.max_memory is not None else None
        rgb, original = downscale(rgb, check_max_side(args.max_side, '--max-side'))
        if original is not None:
            print(f'demo.py: downscaled {image_path} from {original[1]}x{original[0]} to {rgb.shape[1]}x'
                  f'{rgb.shape[0]} (--max-side {args.max_side}); the outputs are at the smaller size',
                  file=sys.stderr)
        classes = parse_classes(Path(args.class_file) if args.class_file else args.classes or EXAMPLE_CLASSES)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = Path(image_path).stem
        label = dict(image=str(Path(image_path).resolve()), bundled_example=args.image is None,
                     size=dict(width=int(rgb.shape[1]), height=int(rgb.shape[0])))
        if original is not None:
            label['downscaled_from'] = dict(width=int(original[1]), height=int(original[0]), max_side=args.max_side)
        summaries, label_maps = [], []
        for method in methods:
            seg = Segmenter(method, args.backbone, args.device, checkpoint=args.checkpoint,
                            vfm_checkpoint=args.vfm_checkpoint, pretrained=args.pretrained, download=args.download,
                            cfg_options=args.cfg_options, progress=not args.quiet,
                            max_memory=max_memory)
            summary, labels = segment_and_save(seg, image_path, rgb, classes, out, stem, args.alpha, label)
            summaries.append(summary)
            label_maps.append(labels)
            del seg  # one model in memory at a time
    except CheckpointError as exc:
        print(f'demo.py: error: {exc}\n  (demo.py: --checkpoint / --vfm-checkpoint FILE use local files; --download '
              f'fetches the official ones when online)', file=sys.stderr)
        return 2
    except (ClassNameError, SegmenterError, FileNotFoundError) as exc:
        print(f'demo.py: error: {exc}', file=sys.stderr)
        return 2
    if args.compare:
        write_comparison(summaries, label_maps, rgb, out, stem, args.alpha, label)
    return 0


def write_comparison(summaries: List[Dict], label_maps: List[np.ndarray], rgb: np.ndarray, out: Path, stem: str,
                     alpha: float, label: Dict) -> None:
    """One picture with a panel per method (titled) and a shared legend, plus its JSON."""
    from sclip_toolkit.apis.visualize import class_colors, render_comparison

    names = [c['name'] for c in summaries[0]['classes']]
    panels = [(s['method'], labels) for s, labels in zip(summaries, label_maps)]
    picture, layout = render_comparison(rgb, panels, names, class_colors(len(names)), alpha)
    path = out / f'{stem}_compare.png'
    picture.save(path)
    agree = {f'{a[0]}/{b[0]}': float(np.mean(a[1] == b[1])) for i, a in enumerate(panels) for b in panels[i + 1:]}
    with open(out / f'{stem}_compare.json', 'w', encoding='utf-8') as fh:
        json.dump(dict(label, output=str(path), methods=summaries, layout=layout, pixel_agreement=agree), fh,
                  indent=2)
    print(f'compare: wrote {path} and {out / f"{stem}_compare.json"}')


if __name__ == '__main__':
    sys.exit(main())
