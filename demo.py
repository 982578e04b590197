"""Segment an image with your own words, and see it.

    python demo.py                                    # bundled photo, its classes, SCLIP with OpenAI ViT-B/16
    python demo.py --image street.jpg --classes "sky, cloud; tree; person, man, woman; car; road"
    python demo.py --image scan.png --class-file my_classes.txt --method naclip --device cuda
    python demo.py --compare sclip,naclip,clearclip   # one panel per method, shared legend
    python demo.py --image photos/ --classes "sky; tree; person"   # every image of a folder
    python demo.py --list-methods

In --classes, ';' separates classes and ',' separates names (synonyms) of one class; a class file has one class
per line (lines starting with '#' are comments; blank lines may end the file). Writes to --out (default demo_out/):
    <image>_<method>_overlay.png   the image under the class colours, with a legend (colour, name, % of the image)
    <image>_<method>_labels.png    the label map: palette PNG (mode 'P'), entry i = class i's colour
    <image>_<method>.json          summary: image, size, method, backbone (as read from the weights), every weight
                                   file used (path, fingerprint), classes (names, colour, pixel share, mean
                                   score), timing, and where the legend and image sit in the overlay
    <image>_compare.png / .json    with --compare
CLIP weights are read from ~/.cache/clip (or $SCLIP_CLIP_CACHE); --download fetches missing ones. Every method's
weights are checked before any is run. Exit status 2 on bad arguments or missing weights, with a message saying
what to do.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

# Only the standard library is imported before the arguments are parsed: --help and argument errors are instant.

ROOT = Path(__file__).resolve().parent
DEFAULT_OUT = 'demo_out'
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
EXAMPLE_NOTE = "the bundled photo's classes"
# The API's parameter names and the demo's options, to word the API's messages for the command line.
CLI_WORDS = {'vfm_checkpoint': '--vfm-checkpoint', 'checkpoint': '--checkpoint', 'device': '--device',
             'backbone': '--backbone', 'pretrained': '--pretrained', 'classes': '--classes', 'method': '--method',
             'cfg_options': '--cfg-options'}
_API_WORD = re.compile(r'(?<![\w.-])(' + '|'.join(CLI_WORDS) + r')=("[^"]*"|\'[^\']*\'|<[^>]*>|[^\s,;)]+)')


def cli_words(message: str) -> str:
    """An API message in command-line words: 'device="cpu"' -> '--device cpu', 'checkpoint=<file>' ->
    '--checkpoint <file>', 'download=True' -> '--download'."""
    message = _API_WORD.sub(lambda m: f'{CLI_WORDS[m[1]]} {m[2].strip(chr(34) + chr(39))}', message)
    return message.replace('download=True', '--download')


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--image', help='image file, or a folder: every image in it (default: the bundled example photo)')
    words = ap.add_mutually_exclusive_group()
    words.add_argument('--classes', help='"sky, cloud; tree; person, man, woman": ";" between classes, "," between '
                                         'names of one class')
    words.add_argument('--class-file', help='class-name file: one class per line, names separated by "," or ";"')
    ap.add_argument('--method', help='sclip (default), naclip, clearclip, proxyclip, scclip, ... (--list-methods '
                                     'shows them all)')
    ap.add_argument('--list-methods', action='store_true', help='list the methods and exit')
    ap.add_argument('--compare', help='several methods, comma-separated (e.g. sclip,naclip,clearclip): one panel '
                                      'per method in <image>_compare.png')
    ap.add_argument('--out', default=DEFAULT_OUT, help=f'output folder (default: {DEFAULT_OUT})')
    ap.add_argument('--alpha', type=float, default=0.55, help='opacity of the class colours (default: 0.55)')
    ap.add_argument('--quiet', action='store_true', help='no progress messages on stderr')
    ap.add_argument('--max-side', type=int, help='downscale each image first so its longer side is at most this '
                                                 '(pixels); the outputs are at that size and say so')
    ap.add_argument('--max-memory', default=None, help='memory for segmenting beyond the model and the image, '
                                                       'e.g. 2GB (default) or 500MB; larger images are labelled '
                                                       'in row bands, with the same labels')
    ap.add_argument('--max-megapixels', type=float, default=100.0,
                    help='refuse image files with more pixels (read from the header, before decoding; default: 100)')
    cli_args().add_model_options(ap, example='model.data_preprocessor.short_side=448')
    return ap


def cli_args():
    """The entry points' shared argument groups (sclip_toolkit/cli/args.py), read as a file: importing the package
    would register every model (torch, mmseg) before the arguments are even parsed."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('sclip_cli_args', ROOT / 'sclip_toolkit' / 'cli' / 'args.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def backbone_summary(seg) -> Dict:
    """The CLIP image encoder as built from the weights: width, depth, heads, patch and input size."""
    visual = seg.model.clip.visual
    info: Dict = dict(config_name=seg.backbone)
    try:
        info.update(width=int(visual.conv1.out_channels), layers=len(visual.transformer.resblocks),
                    heads=int(visual.transformer.resblocks[0].attn.num_heads),
                    patch_size=int(visual.conv1.kernel_size[0]))
        size = getattr(visual, 'image_size', None)
        info['image_size'] = list(size) if isinstance(size, (tuple, list)) else size
    except AttributeError:  # an encoder of another layout: keep what the config says
        return info
    letter = {768: 'B', 1024: 'L', 1280: 'H'}.get(info['width'])
    info['name'] = f"ViT-{letter}/{info['patch_size']}" if letter else \
        f"ViT (width {info['width']}, {info['layers']} layers, patch {info['patch_size']})"
    return info


def weights_summary(seg) -> List[Dict]:
    """Every weight file the model loaded (CLIP, and the VFM when there is one): path, fingerprint, identity."""
    from sclip_toolkit.models.checkpoint import default_cache_dir, file_fingerprint, openai_clip_urls

    def entry(role: str, path: Optional[Path], identity: Optional[str]) -> Dict:
        exists = path is not None and path.is_file()
        return dict(role=role, path=str(path.resolve()) if exists else None, id=identity,
                    fingerprint=file_fingerprint(path) if exists else None)

    clip = seg.model.clip
    identity = getattr(clip, 'checkpoint_id', None)
    path = None
    if seg.cfg.model.clip.get('checkpoint'):
        path = Path(seg.cfg.model.clip.checkpoint).expanduser()
    elif identity and identity.startswith('openai:'):
        path = default_cache_dir() / openai_clip_urls()[identity.split(':', 1)[1]].rsplit('/', 1)[-1]
    out = [entry('clip', path, identity)]
    vfm = getattr(clip, 'vfm', None)
    if vfm is not None:
        vfm_id = getattr(vfm, 'checkpoint_id', None)
        out.append(entry('vfm', Path(vfm_id.split(':', 1)[1]) if vfm_id and ':' in vfm_id else None, vfm_id))
    return out


def segment_and_save(seg, image_path: str, rgb, classes, out: Path, stem: str, alpha: float, label: Dict,
                     model_info: Optional[Dict] = None, verbose: bool = True) -> Tuple[Dict, object]:
    """Segment with one Segmenter, write its overlay, label map and JSON; return the summary and the labels.

    Args:
        model_info: ``backbone`` and ``weights`` entries of the JSON (default: read from ``seg``).
    """
    from sclip_toolkit.apis.visualize import class_colors, class_summary, label_picture, render_overlay
    from sclip_toolkit.io_utils import atomic_write, save_image

    start = time.perf_counter()
    result = seg(rgb, classes, source=image_path)
    colors = class_colors(len(result.classes))
    picture, layout = render_overlay(rgb, result.labels, result.class_names, colors, result.pixel_shares(), alpha)
    paths = dict(overlay=out / f'{stem}_{seg.method}_overlay.png', labels=out / f'{stem}_{seg.method}_labels.png')
    out.mkdir(parents=True, exist_ok=True)
    save_image(paths['overlay'], picture)
    save_image(paths['labels'], label_picture(result.labels, colors))
    model_info = model_info or dict(backbone=backbone_summary(seg), weights=weights_summary(seg))
    summary = dict(
        label, method=seg.method, backbone=model_info['backbone'], checkpoint=seg.checkpoint,
        weights=model_info['weights'], device=str(seg.device), classes=class_summary(result, colors),
        scores_kept=result.scores is not None, outputs={k: str(v) for k, v in paths.items()},
        overlay_layout=layout,
        timing=dict(load_s=round(seg.load_seconds, 3), text_s=round(result.timing['text_s'], 3),
                    inference_s=round(result.timing['inference_s'], 3),
                    total_s=round(seg.load_seconds + time.perf_counter() - start, 3)))
    atomic_write(out / f'{stem}_{seg.method}.json', json.dumps(summary, indent=2))
    if verbose:
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


def image_files(image: Optional[str]) -> List[Path]:
    """The images to segment: the bundled photo, one file, or every image directly in a folder (sorted)."""
    from sclip_toolkit.apis import EXAMPLE_IMAGE

    if image is None:
        return [EXAMPLE_IMAGE]
    path = Path(image).expanduser()
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f'--image {image} is a folder without images ({", ".join(IMAGE_SUFFIXES)})')
    return files


def check_weights(method: str, cfg, download: bool) -> None:
    """Fail now, naming the method, if a weight file it needs (CLIP, VFM) is missing and cannot be downloaded."""
    from sclip_toolkit.models.checkpoint import CheckpointError, fetch_openai_checkpoint

    clip = cfg.model.clip
    try:
        if clip.get('checkpoint'):
            if not Path(clip.checkpoint).expanduser().is_file():
                raise CheckpointError(f'CLIP checkpoint {clip.checkpoint} does not exist (--checkpoint)')
        elif clip.get('pretrained') in (None, 'openai'):
            fetch_openai_checkpoint(clip.name, download=download)
        affinity = (cfg.model.get('inference') or {}).get('affinity') or {}
        if affinity.get('type') == 'SAMAffinity':
            from sclip_toolkit.models.vfm.sam_model import sam_weights_path
            sam_weights_path(affinity.get('model_type', 'vit_b'), affinity.get('checkpoint'), download=download)
        vfm = clip.get('vfm')
        if vfm is not None:
            if vfm.get('checkpoint'):
                if not Path(vfm.checkpoint).expanduser().is_file():
                    raise CheckpointError(f'{vfm.get("family", "VFM")} checkpoint {vfm.checkpoint} does not exist '
                                          f'(--vfm-checkpoint)')
            else:
                from sclip_toolkit.models.vfm import VFMFeatures
                from sclip_toolkit.models.vfm.weights import fetch_official_weights
                try:
                    fetch_official_weights(*VFMFeatures.official_file(vfm), download=download)
                except CheckpointError as exc:  # its file is the VFM's: say so in the API's words, worded below
                    raise CheckpointError(str(exc).replace('pass checkpoint=', 'pass vfm_checkpoint=')
                                          .replace(' (--vfm-checkpoint on the command line)', '')) from None
    except CheckpointError as exc:
        raise CheckpointError(f'{method}: {exc}') from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the arguments (errors exit 2 at once, before anything heavy is imported), then run."""
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.compare and args.method:
        ap.error('give either --method or --compare, not both')
    if args.classes is not None and not args.classes.replace(';', ' ').strip():
        if args.image:
            ap.error('--classes is empty: say what to look for, e.g. --classes "sky, cloud; tree; person"')
        args.classes = None  # nothing to look for in the bundled photo either: use its classes, as without --classes
        if not args.quiet:
            print(f'demo.py: --classes is empty; using {EXAMPLE_NOTE}', file=sys.stderr)
    if args.image and not (args.classes or args.class_file):
        ap.error('with --image, say what to look for: --classes "a, b; c" or --class-file FILE (the default '
                 'classes only suit the bundled photo)')
    if not 0 <= args.alpha <= 1:
        ap.error(f'--alpha must be between 0 and 1, got {args.alpha}')
    methods = [m.strip().lower() for m in (args.compare or args.method or 'sclip').split(',') if m.strip()]
    if len(set(methods)) != len(methods):
        ap.error(f'--compare lists a method twice: {args.compare}')
    if Path(args.out).exists() and not Path(args.out).is_dir():
        ap.error(f'--out {args.out} is a file; give a folder (it is created when missing)')
    if args.compare and args.image and Path(args.image).is_dir():
        ap.error('--compare takes one image; give --image FILE (or --method for a folder)')

    from sclip_toolkit.cli import run_cli

    if args.list_methods:
        from sclip_toolkit.apis import available_methods
        print('\n'.join(available_methods()))
        return 0
    return run_cli(lambda: run(args, methods), 'demo.py', words=cli_words) or 0


def run(args: argparse.Namespace, methods: List[str]) -> int:
    """Check everything (methods, classes, weights of every method, the image, the output folder), then segment and
    write; the exit status (1 when a folder's image was skipped)."""
    from sclip_toolkit.apis import (EXAMPLE_CLASSES, SegmenterError, available_methods, check_max_side,
                                    load_scaled, method_config, parse_bytes, parse_classes, applicable_options)
    from sclip_toolkit.cli.args import cfg_options as read_cfg_options
    from sclip_toolkit.devices import check_cli_device
    from sclip_toolkit.io_utils import check_writable_dir
    from sclip_toolkit.models.checkpoint import CheckpointError

    cfg_options = read_cfg_options(args)
    check_cli_device(args.device)
    args.max_memory = parse_bytes(args.max_memory, '--max-memory') if args.max_memory is not None else None
    check_max_side(args.max_side, '--max-side')
    if not args.max_megapixels > 0:
        raise SegmenterError(f'--max-megapixels must be above 0, got {args.max_megapixels:g}')
    args.max_pixels = round(args.max_megapixels * 1e6)
    valid = available_methods()
    unknown = [m for m in methods if m not in valid]
    if unknown:  # before any model is loaded
        raise SegmenterError(f'unknown method {unknown[0]!r}; valid: {", ".join(valid)}')
    classes = parse_classes(Path(args.class_file) if args.class_file else args.classes or EXAMPLE_CLASSES,
                            where='class {number} of --classes')
    images = image_files(args.image)
    folder = args.image is not None and Path(args.image).is_dir()
    # a bad or too large image fails before any model is loaded
    first_rgb = None if folder else load_scaled(images[0], args.max_side, args.max_pixels, '--max-megapixels N')
    configs = {m: method_config(m, args.backbone, args.checkpoint, None, args.pretrained, args.download,
                                cfg_options=cfg_options) for m in methods}
    # --vfm-checkpoint goes to the methods with a VFM, SAM's options to those with SAM (Trident); an option that no
    # chosen method takes is an error
    args.weights = {m: applicable_options(cfg, args.vfm_checkpoint, args.sam_checkpoint, args.sam_refine)
                    for m, cfg in configs.items()}
    for flag, key, uses in (('--vfm-checkpoint', 'vfm_checkpoint', 'a vision foundation model'),
                            ('--sam-checkpoint', 'sam_checkpoint', 'SAM (trident)'),
                            ('--sam-refine', 'sam_refine', 'SAM (trident)')):
        if getattr(args, key) and not any(key in w for w in args.weights.values()):
            raise SegmenterError(f'{flag} is for methods that use {uses}; none of {", ".join(methods)} does')
    try:  # every method's weights, before any is run
        for method in methods:
            cfg = configs[method]
            if args.weights[method]:
                cfg = method_config(method, args.backbone, args.checkpoint, pretrained=args.pretrained,
                                    download=args.download, cfg_options=cfg_options, **args.weights[method])
            check_weights(method, cfg, args.download)
    except CheckpointError as exc:
        raise CheckpointError(f'{exc} (--checkpoint / --vfm-checkpoint FILE use local files; --download fetches the '
                              f'official ones when online)') from None

    out = Path(args.out)
    created = not out.exists()
    try:
        check_writable_dir(out, f'--out {args.out}')  # before the work: a result that cannot be written is lost
        run_ = segment_all(args, methods, images, first_rgb, classes, out, cfg_options, folder)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a failed run leaves no empty folder behind
        raise
    if args.compare:
        write_comparison(run_.summaries, run_.label_maps, run_.first_rgb, out, Path(images[0]).stem, args.alpha,
                         run_.summaries[0]['label'])
    elif folder:
        from sclip_toolkit.apis.folder_run import report_folder
        return report_folder(args.image, methods[0], run_, out)
    return 0


def segment_all(args: argparse.Namespace, methods: List[str], images: List[Path], first_rgb, classes, out: Path,
                cfg_options: Dict, folder: bool = False):
    """Each method (one model in memory at a time) over every image. In folder mode an image that cannot be read
    or segmented is reported, skipped and listed, and the run goes on; a file that cannot be written stops it."""
    from sclip_toolkit.apis import Segmenter
    from sclip_toolkit.apis.folder_run import FolderRun, output_stems
    from sclip_toolkit.exceptions import ToolkitError
    from sclip_toolkit.io_utils import WriteError

    run_ = FolderRun()
    stems = output_stems(images)
    for method in methods:
        seg = Segmenter(method, args.backbone, args.device, checkpoint=args.checkpoint, pretrained=args.pretrained,
                        download=args.download, cfg_options=cfg_options, progress=not args.quiet and len(images) == 1,
                        max_memory=args.max_memory, **args.weights[method])
        model_info = dict(backbone=backbone_summary(seg), weights=weights_summary(seg))
        progress = images
        if len(images) > 1 and not args.quiet:
            from tqdm import tqdm
            progress = tqdm(images, desc=f'{method}: {args.image}', unit='img', file=sys.stderr)
        for i, (image, stem) in enumerate(zip(progress, stems)):
            try:
                summary, labels, rgb = segment_one(args, seg, image, stem, first_rgb if i == 0 else None, classes,
                                                   out, model_info, len(images) == 1)
            except WriteError:
                raise
            except (ToolkitError, FileNotFoundError, OSError) as exc:
                if not folder:
                    raise
                reason = str(exc).replace(f'{image}: ', '').replace(f' {image}', '')
                run_.skipped.append((image, reason))
                print(f'\ndemo.py: skipped {image}: {reason}', file=sys.stderr, flush=True)
                continue
            run_.written.append((image, stem))
            if i == 0:
                run_.first_rgb = rgb  # the comparison picture is drawn at the segmented size (--max-side)
                run_.summaries.append(summary)
                run_.label_maps.append(labels)
        del seg  # one model in memory at a time
    return run_


def segment_one(args: argparse.Namespace, seg, image: Path, stem: str, loaded, classes, out: Path, model_info: Dict,
                verbose: bool) -> Tuple[Dict, object, object]:
    """Decode (unless given: ``loaded`` is :func:`load_scaled`'s (pixels, original size)) reduced to --max-side,
    segment and write one image; its summary (with 'label'), labels, pixels."""
    from sclip_toolkit.apis import load_scaled

    rgb, original = loaded if loaded is not None else load_scaled(image, args.max_side, args.max_pixels,
                                                                  '--max-megapixels N')
    if original is not None and verbose:
        print(f'demo.py: downscaled {image} from {original[1]}x{original[0]} to {rgb.shape[1]}x'
              f'{rgb.shape[0]} (--max-side {args.max_side}); the outputs are at the smaller size', file=sys.stderr)
    label = dict(image=str(Path(image).resolve()), bundled_example=args.image is None,
                 size=dict(width=int(rgb.shape[1]), height=int(rgb.shape[0])))
    if original is not None:
        label['downscaled_from'] = dict(width=int(original[1]), height=int(original[0]), max_side=args.max_side)
    summary, labels = segment_and_save(seg, str(image), rgb, classes, out, stem, args.alpha, label, model_info,
                                       verbose=verbose)
    return dict(summary, label=label), labels, rgb


def write_comparison(summaries: List[Dict], label_maps: List, rgb, out: Path, stem: str, alpha: float,
                     label: Dict) -> None:
    """One picture with a panel per method (titled, in a grid beyond 3) and a shared legend, plus its JSON."""
    import numpy as np

    from sclip_toolkit.apis.visualize import class_colors, render_comparison

    names = [c['name'] for c in summaries[0]['classes']]
    panels = [(s['method'], labels) for s, labels in zip(summaries, label_maps)]
    shares = [[c['pixel_share'] for c in s['classes']] for s in summaries]
    picture, layout = render_comparison(rgb, panels, names, class_colors(len(names)), alpha, shares=shares)
    from sclip_toolkit.io_utils import atomic_write, save_image

    path = out / f'{stem}_compare.png'
    save_image(path, picture)
    agree = {f'{a[0]}/{b[0]}': float(np.mean(a[1] == b[1])) for i, a in enumerate(panels) for b in panels[i + 1:]}
    methods = [{k: v for k, v in s.items() if k != 'label'} for s in summaries]
    atomic_write(out / f'{stem}_compare.json', json.dumps(dict(label, output=str(path), methods=methods,
                                                                layout=layout, pixel_agreement=agree), indent=2))
    print(f'compare: wrote {path} and {out / f"{stem}_compare.json"}')


if __name__ == '__main__':
    sys.exit(main())
