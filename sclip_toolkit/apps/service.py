"""The work behind the web page, free of Gradio: check the inputs, keep the models, segment, write the downloads.

Every failure a user can cause ends as :class:`UserError`, one line saying what was wrong and what would be right;
the page shows it and goes on serving.
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..apis.visualize import class_summary
from ..io_utils import atomic_write, save_image
from .model_cache import AppOptions, ModelCache
from .results import PixelLookup, legend_html, pixel_agreement, render_run
from .settings import SettingsError, settings_to_cfg_options

LOG = logging.getLogger('sclip_toolkit.app')
Report = Callable[[float, str], None]


class UserError(ValueError):
    """Bad input from the page (image, classes, methods, settings, weights): shown there as one line."""


@dataclass
class RunOutput:
    """What one request gives the page."""
    picture: Image.Image
    status: str
    legend: str
    files: List[str]
    lookup: PixelLookup
    summary: Dict


def load_rgb(path: Optional[str], max_side: int) -> Tuple[np.ndarray, Optional[Tuple[int, int]]]:
    """The image at ``path`` as (H, W, 3) uint8 RGB, scaled down to ``max_side`` if larger (the API's downscaler,
    as ``Segmenter(max_side=...)`` and demo.py's ``--max-side``); and its original (width, height) when it was
    scaled."""
    from ..apis import SegmenterError, downscale, load_image

    if not path:
        raise UserError("no image: upload one, or click 'Use the example photo'")
    name = Path(path).name
    try:
        rgb = load_image(path)
    except SegmenterError as exc:
        raise UserError(f'{name} is not an image that can be read ({_short(str(exc), path)}); upload a JPEG, PNG, '
                        f'BMP, TIFF or WebP picture') from None
    except FileNotFoundError:
        raise UserError(f'the uploaded file {name} is gone from the server; upload it again') from None
    rgb, original = downscale(rgb, max_side)
    return rgb, None if original is None else original[::-1]


def _short(message: str, path: str) -> str:
    """An error message without the server's temporary folder (the user knows the file by its name)."""
    return message.replace(str(Path(path).parent) + '/', '').replace(f"'{Path(path).name}'", Path(path).name)


def _app_flags(message: str) -> str:
    """A weights message in the app's terms: the API's ``checkpoint=`` is app.py's ``--checkpoint``."""
    if '--vfm-checkpoint' not in message:
        message = message.replace('checkpoint=', 'app.py --checkpoint ')
    if '--checkpoint' not in message and '--vfm-checkpoint' not in message:
        message += ' (app.py --checkpoint FILE / --vfm-checkpoint FILE load local files)'
    return message


def parse_vocabulary(text: Optional[str], class_file: Optional[str], max_classes: int) -> List[List[str]]:
    """Classes from the class-name file when one was uploaded, else from ``text`` ('a, b; c': ';' between classes,
    ',' between names of one class). Typed text is never read as a file name."""
    from ..apis import parse_classes
    from ..models.text import ClassNameError, parse_class_names

    try:
        if class_file:
            classes = parse_class_names(Path(class_file))
        else:
            parts = (text or '').strip().split(';')
            if len(parts) > 1 and not parts[-1].strip():  # a trailing ';'
                parts = parts[:-1]
            if not ''.join(parts).strip():
                raise UserError('no classes: type some, e.g. "sky, cloud; tree; person, man, woman", or upload a '
                                'class-name file')
            classes = parse_classes(parts, where='class {number}')
    except ClassNameError as exc:
        raise UserError(_short(str(exc), class_file) if class_file else str(exc)) from None
    if len(classes) > max_classes:
        raise UserError(f'{len(classes)} classes given; this server takes at most {max_classes} per request '
                        f'(start it with --max-classes N for more)')
    return [list(c) for c in classes]


class SegmentationService:
    """Segments requests from the page with the kept models and writes each run's downloads to its own folder."""

    def __init__(self, options: AppOptions, work_dir: Optional[Path] = None, keep_runs_s: float = 3600):
        from ..apis import EXAMPLE_IMAGE, available_methods

        self.options = options
        self.models = ModelCache(options)
        self.methods = available_methods()
        self.example_bytes = EXAMPLE_IMAGE.read_bytes()
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix='sclip_app_'))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.keep_runs_s = keep_runs_s

    def _run_dir(self) -> Path:
        """A fresh folder for one run's files; folders older than ``keep_runs_s`` are removed."""
        now = time.time()
        for old in self.work_dir.iterdir():
            if old.is_dir() and now - old.stat().st_mtime > self.keep_runs_s:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix='run_', dir=self.work_dir))

    def cfg_options(self, methods: Sequence[str], settings: Dict) -> Dict[str, Dict]:
        """Per method, the config overrides of the page's advanced settings."""
        out = {}
        for method in methods:
            try:
                out[method] = settings_to_cfg_options(method, settings, self.options.backbone)
            except SettingsError as exc:
                raise UserError(str(exc)) from None
        return out

    def check_methods(self, methods: Optional[Sequence[str]]) -> List[str]:
        methods = list(methods or [])
        if not methods:
            raise UserError('no method chosen: tick one or several')
        unknown = [m for m in methods if m not in self.methods]
        if unknown:
            raise UserError(f'unknown method {unknown[0]!r}; valid: {", ".join(self.methods)}')
        return methods

    def segment(self, image_path: Optional[str], classes_text: Optional[str], class_file: Optional[str],
                methods: Optional[Sequence[str]], settings: Dict, report: Optional[Report] = None) -> RunOutput:
        """Check everything, then segment the image with each method (models built on first use).

        Raises:
            UserError: anything the user can fix; the message is one line.
        """
        from ..models.checkpoint import CheckpointError

        report = report or (lambda fraction, text: None)
        methods = self.check_methods(methods)
        rgb, original = load_rgb(image_path, self.options.max_side)
        classes = parse_vocabulary(classes_text, class_file, self.options.max_classes)
        options = self.cfg_options(methods, settings)
        height, width = rgb.shape[:2]
        label = dict(image=Path(image_path).name, bundled_example=Path(image_path).read_bytes() == self.example_bytes,
                     size=dict(width=int(width), height=int(height)))
        if original:
            label['resized_from'] = dict(width=original[0], height=original[1])
        results, timings, entries = [], [], []
        for i, method in enumerate(methods):
            start = time.perf_counter()
            report(i / len(methods), f'{method}: loading the model')
            try:
                entry, load_s = self.models.get(method, options[method])
            except CheckpointError as exc:
                raise UserError(f'{method}: {_app_flags(str(exc))}') from None
            report((i + 0.3) / len(methods), f'{method}: segmenting {width}x{height}')
            with entry.lock:
                result = entry.segmenter(rgb, classes, return_scores=True)  # the page shows per-pixel scores
            results.append(result)
            entries.append(entry)
            timings.append(dict(load_s=round(load_s, 3), text_s=round(result.timing['text_s'], 3),
                                inference_s=round(result.timing['inference_s'], 3),
                                total_s=round(time.perf_counter() - start, 3)))
        report(0.95, 'drawing')
        return self._write(rgb, methods, results, [e.segmenter for e in entries], timings, label, original)

    def _write(self, rgb: np.ndarray, methods: List[str], results: List, segmenters: List, timings: List[Dict],
               label: Dict, original: Optional[Tuple[int, int]]) -> RunOutput:
        """Draw the picture and the legend, write the label maps, the picture and the JSON summary."""
        from ..apis.visualize import class_colors, label_picture

        out = self._run_dir()
        stem = Path(label['image']).stem or 'image'
        colors = class_colors(len(results[0].classes))
        picture, layout, boxes = render_run(rgb, methods, results, self.options.alpha)
        summaries, files = [], []
        for method, result, seg, timing in zip(methods, results, segmenters, timings):
            labels_path = out / f'{stem}_{method}_labels.png'
            save_image(labels_path, label_picture(result.labels, colors))
            files.append(labels_path)
            if len(methods) == 1:
                outputs, overlay_layout = dict(overlay=f'{stem}_{method}_overlay.png', labels=labels_path.name), layout
            else:
                outputs, overlay_layout = dict(labels=labels_path.name), None
            summaries.append(dict(label, method=method, backbone=seg.backbone, checkpoint=seg.checkpoint,
                                  device=str(seg.device), classes=class_summary(result, colors), outputs=outputs,
                                  overlay_layout=overlay_layout, timing=timing))
        if len(methods) == 1:
            summary = summaries[0]
            picture_path, json_path = out / summary['outputs']['overlay'], out / f'{stem}_{methods[0]}.json'
        else:
            picture_path, json_path = out / f'{stem}_compare.png', out / f'{stem}_compare.json'
            summary = dict(label, output=picture_path.name, methods=summaries, layout=layout,
                           pixel_agreement=pixel_agreement([(m, r.labels) for m, r in zip(methods, results)]))
        save_image(picture_path, picture)
        atomic_write(json_path, json.dumps(summary, indent=2))
        files += [picture_path, json_path]
        status = self._status(methods, timings, label, original)
        return RunOutput(picture, status, legend_html(methods, results), [str(f) for f in files],
                         PixelLookup.from_results(methods, results, boxes), summary)

    def _status(self, methods: List[str], timings: List[Dict], label: Dict, original: Optional[Tuple[int, int]]
                ) -> str:
        size = label['size']
        parts = [f'{m} {t["total_s"]:.1f} s' + (f' (model built in {t["load_s"]:.1f} s)' if t['load_s'] else '')
                 for m, t in zip(methods, timings)]
        text = f'Segmented {label["image"]} ({size["width"]}x{size["height"]}): {", ".join(parts)}.'
        if original:
            text += (f' The image was {original[0]}x{original[1]}; it was scaled down to {size["width"]}x'
                     f'{size["height"]} (this server\'s limit is {self.options.max_side} pixels a side).')
        return text
