"""The work behind the web page, free of Gradio: check the inputs, keep the models, segment, write the downloads.

Every failure a user can cause ends as :class:`UserError`, one line saying what was wrong and what would be right;
the page shows it and goes on serving. A method that cannot run (missing weights) does not stop the others: the
run shows every method that ran and says why each other one did not.
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..apis.inputs import DEFAULT_MAX_PIXELS
from ..apis.visualize import class_summary
from ..io_utils import atomic_write, save_image
from .errors import UserError, hide_paths, page_words
from .model_cache import AppOptions, ModelCache
from .readiness import default_method, method_readiness
from .record import demo_command, settings_used
from .results import COMPARISON, LookupStore, PixelLookup, legend_html, pixel_agreement, render_views
from .settings import SETTINGS, SettingsError, settings_to_cfg_options
from .vocabulary import parse_vocabulary, reading_note

__all__ = ['AppOptions', 'ModelCache', 'RunOutput', 'SegmentationService', 'UserError', 'load_rgb',
           'parse_vocabulary', 'hide_paths']

LOG = logging.getLogger('sclip_toolkit.app')
Report = Callable[[float, str], None]
SCORE_BYTES = 256 << 20  # per-pixel scores are asked for only while (classes x pixels) float32 stay below this


@dataclass
class RunOutput:
    """What one request gives the page.

    Attributes:
        views: the run's pictures, (name, file): 'comparison' then each method's overlay, or the one overlay.
        lookup_key: key of the run's click data in the service's :class:`LookupStore`.
    """
    picture: Image.Image
    status: str
    legend: str
    files: List[str]
    views: List[Tuple[str, str]]
    lookup_key: str
    summary: Dict
    skipped: Dict[str, str] = field(default_factory=dict)


def load_rgb(path: Optional[str], max_side: int, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS
             ) -> Tuple[np.ndarray, Optional[Tuple[int, int]]]:
    """The image at ``path`` as (H, W, 3) uint8 RGB, scaled down to ``max_side`` if larger (decoded reduced); and
    its original (width, height) when it was scaled. Pictures above ``max_pixels`` are refused from the header."""
    from ..apis import SegmenterError, load_scaled

    if not path:
        raise UserError("no image: upload one, or click 'Use the example photo'")
    name = Path(path).name
    try:
        rgb, original = load_scaled(path, max_side, max_pixels, how='--max-megapixels N')
    except SegmenterError as exc:
        message = _short(str(exc), path)
        if 'megapixels' in message:
            raise UserError(f"{message.split('; scale it down')[0]}, this server's limit; scale it down and upload "
                            f'it again') from None
        raise UserError(f'{name} is not an image that can be read ({message}); upload a JPEG, PNG, BMP, TIFF or '
                        f'WebP picture') from None
    except FileNotFoundError:
        raise UserError(f'the uploaded file {name} is gone from the server; upload it again') from None
    return rgb, None if original is None else (original[1], original[0])


def _short(message: str, path: str) -> str:
    """An error message without the server's temporary folder (the user knows the file by its name)."""
    return message.replace(str(Path(path).parent) + '/', '').replace(f"'{Path(path).name}'", Path(path).name)


class SegmentationService:
    """Segments requests from the page with the kept models and writes each run's downloads to its own folder."""

    def __init__(self, options: AppOptions, work_dir: Optional[Path] = None, keep_runs_s: float = 3600):
        from ..apis import EXAMPLE_IMAGE, available_methods

        self.options = options
        self.models = ModelCache(options)
        self.methods = available_methods()
        self.readiness = method_readiness(self.methods, options, options.show_paths)
        self.example_bytes = EXAMPLE_IMAGE.read_bytes()
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix='sclip_app_'))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.keep_runs_s = keep_runs_s
        self.lookups = LookupStore(options.lookup_bytes)
        self._images: 'OrderedDict[tuple, Tuple[np.ndarray, Optional[Tuple[int, int]]]]' = OrderedDict()
        self._images_lock = threading.Lock()

    @property
    def default_method(self) -> Optional[str]:
        """The method ticked when the page opens: the best-scoring one that can run here."""
        return default_method(self.methods, self.readiness)

    def load(self, path: Optional[str]) -> Tuple[np.ndarray, Optional[Tuple[int, int]]]:
        """:func:`load_rgb` with the last few decoded images kept, so that the preview and the run decode once."""
        if not path:
            return load_rgb(path, self.options.max_side, self.options.max_pixels)
        try:
            stat = Path(path).stat()
            key = (str(path), stat.st_mtime_ns, stat.st_size)
        except OSError:
            key = None
        with self._images_lock:
            if key in self._images:
                self._images.move_to_end(key)
                return self._images[key]
        image = load_rgb(path, self.options.max_side, self.options.max_pixels)
        if key is not None:
            with self._images_lock:
                self._images[key] = image
                while len(self._images) > 4:
                    self._images.popitem(last=False)
        return image

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
        """Check everything, then segment the image with each method that can run (models built on first use).

        Raises:
            UserError: anything the user can fix, or no chosen method could run; the message is one line.
        """
        import torch

        from ..apis import SegmenterError
        from ..exceptions import ToolkitError
        from ..models.checkpoint import CheckpointError

        report = report or (lambda fraction, text: None)
        methods = self.check_methods(methods)
        rgb, original = self.load(image_path)
        o = self.options
        classes = parse_vocabulary(classes_text, class_file, o.max_classes, o.max_name_length)
        options = self.cfg_options(methods, settings)
        height, width = rgb.shape[:2]
        label = dict(image=Path(image_path).name, bundled_example=Path(image_path).read_bytes() == self.example_bytes,
                     size=dict(width=int(width), height=int(height)))
        if original:
            label['resized_from'] = dict(width=original[0], height=original[1], max_side=o.max_side)
        skipped = {m: f'{m} did not run: {self.readiness[m]}' for m in methods if self.readiness.get(m)}
        keep_scores = len(classes) * height * width * 4 <= SCORE_BYTES
        ran, results, timings, segmenters = [], [], [], []
        for i, method in enumerate(methods):
            if method in skipped:
                continue
            start = time.perf_counter()
            report(i / len(methods), f'{method}: loading the model')
            try:
                entry, load_s = self.models.get(method, options[method])
                report((i + 0.3) / len(methods), f'{method}: segmenting {width}x{height}')
                with entry.lock:  # the page shows per-pixel scores when they are small enough to keep
                    result = entry.segmenter(rgb, classes, return_scores=True if keep_scores else None)
            except (CheckpointError, SegmenterError, ToolkitError) as exc:
                skipped[method] = page_words(method, exc, o.show_paths)
                LOG.warning('%s', skipped[method])
                continue
            except (torch.OutOfMemoryError, MemoryError):
                skipped[method] = f'{method} did not run: out of memory (try a smaller image or fewer classes)'
                continue
            ran.append(method)
            results.append(result)
            segmenters.append(entry.segmenter)
            timings.append(dict(load_s=round(load_s, 3), text_s=round(result.timing['text_s'], 3),
                                inference_s=round(result.timing['inference_s'], 3),
                                total_s=round(time.perf_counter() - start, 3)))
        if not ran:
            raise UserError('; '.join(skipped[m] for m in methods))
        report(0.95, 'drawing')
        note = reading_note(classes_text, class_file, classes)
        return self._write(rgb, ran, results, segmenters, timings, label, original, settings, options, skipped,
                           note, class_file, classes)

    def _write(self, rgb: np.ndarray, methods: List[str], results: List, segmenters: List, timings: List[Dict],
               label: Dict, original: Optional[Tuple[int, int]], settings: Dict, options: Dict[str, Dict],
               skipped: Dict[str, str], note: Optional[str], class_file: Optional[str], classes) -> RunOutput:
        """Draw the pictures and the legend, write the label maps, the pictures and the JSON summary."""
        from ..apis.visualize import class_colors, label_picture

        out = self._run_dir()
        stem = Path(label['image']).stem or 'image'
        colors = class_colors(len(results[0].classes))
        views = render_views(rgb, methods, results, self.options.alpha)
        layouts = {name: layout for name, _, layout, _ in views}
        summaries, files = [], []
        show = self.options.show_paths
        for method, result, seg, timing in zip(methods, results, segmenters, timings):
            labels_path = out / f'{stem}_{method}_labels.png'
            save_image(labels_path, label_picture(result.labels, colors))
            files.append(labels_path)
            used = settings_used(method, settings, options[method], self.options)
            checkpoint = seg.checkpoint if show or not seg.checkpoint else Path(seg.checkpoint).name
            summaries.append(dict(label, method=method, backbone=seg.backbone, checkpoint=checkpoint,
                                  device=str(seg.device), settings=used,
                                  classes=class_summary(result, colors),
                                  outputs=dict(overlay=f'{stem}_{method}_overlay.png', labels=labels_path.name),
                                  overlay_layout=layouts[method], timing=timing,
                                  demo_command=demo_command(label['image'], classes, class_file, [method],
                                                            options[method], self.options)))
        pictures = []
        for name, picture, _, _ in views:
            path = out / (f'{stem}_compare.png' if name == COMPARISON else f'{stem}_{name}_overlay.png')
            save_image(path, picture)
            pictures.append((name, str(path)))
        if len(methods) == 1:
            summary = summaries[0]
            json_path = out / f'{stem}_{methods[0]}.json'
        else:
            json_path = out / f'{stem}_compare.json'
            same = all(options[m] == options[methods[0]] for m in methods)
            summary = dict(label, output=f'{stem}_compare.png', methods=summaries, layout=layouts[COMPARISON],
                           pixel_agreement=pixel_agreement([(m, r.labels) for m, r in zip(methods, results)]))
            if same:
                summary['demo_command'] = demo_command(label['image'], classes, class_file, methods,
                                                       options[methods[0]], self.options)
        if skipped:
            summary['not_run'] = dict(skipped)
        if note:
            summary['classes_read_as'] = note
        atomic_write(json_path, json.dumps(summary, indent=2))
        files += [Path(p) for _, p in pictures] + [json_path]
        lookup = PixelLookup.from_results(methods, results, {name: boxes for name, _, _, boxes in views})
        key = self.lookups.put(lookup)
        status = self._status(methods, timings, label, original, summaries, skipped, note)
        return RunOutput(views[0][1], status, legend_html(methods, results), [str(f) for f in files], pictures, key,
                         summary, skipped)

    def _status(self, methods: List[str], timings: List[Dict], label: Dict, original: Optional[Tuple[int, int]],
                summaries: List[Dict], skipped: Dict[str, str], note: Optional[str]) -> str:
        size = label['size']
        parts = [f'{m} {t["total_s"]:.1f} s' + (f' (model built in {t["load_s"]:.1f} s)' if t['load_s'] else '')
                 for m, t in zip(methods, timings)]
        text = f'Segmented {label["image"]} ({size["width"]}x{size["height"]}): {", ".join(parts)}.'
        if original:
            text += (f' The image was {original[0]}x{original[1]}; it was scaled down to {size["width"]}x'
                     f'{size["height"]} (this server\'s limit is {self.options.max_side} pixels a side).')
        text += ' Settings: ' + '; '.join(f'{s["method"]} ({s["backbone"]}): ' + ', '.join(
            f'{k.replace("_", " ")} {"-" if s["settings"][k] is None else format(s["settings"][k], "g")}'
            for k in SETTINGS) for s in summaries) + f'; images at most {self.options.max_side} px a side.'
        if skipped:
            text += ' ' + ' '.join(f'{r}.' for r in skipped.values())
        if note:
            text += f' {note}.'
        return text
