"""What the web page makes of segmentations: the pictures (as ``demo.py`` draws them), the legend table, the JSON
summaries (the shapes ``demo.py`` writes), and the class and score at a clicked pixel."""
from __future__ import annotations

import html
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..apis.visualize import class_colors, render_comparison, render_overlay, shorten

LOOKUP_SIDE = 800  # the click data of a run is kept at most this large (the page shows the picture smaller)
COMPARISON = 'comparison'


def pixel_agreement(panels: Sequence[Tuple[str, np.ndarray]]) -> Dict[str, float]:
    """Share of pixels on which each pair of methods agrees, keyed 'a/b' (as in ``demo.py --compare``)."""
    return {f'{a[0]}/{b[0]}': float(np.mean(a[1] == b[1])) for i, a in enumerate(panels) for b in panels[i + 1:]}


def _shrink(array: np.ndarray, side: int) -> np.ndarray:
    height, width = array.shape
    if max(height, width) <= side:
        return array
    scale = side / max(height, width)
    rows = (np.arange(max(1, round(height * scale))) * height // max(1, round(height * scale)))
    cols = (np.arange(max(1, round(width * scale))) * width // max(1, round(width * scale)))
    return np.ascontiguousarray(array[rows][:, cols])


@dataclass
class PixelLookup:
    """Enough of a run to answer "which class, what score" at a clicked point of one of its pictures.

    Attributes:
        methods: the methods that ran.
        class_names: display name of every class.
        labels: per method, class index of every pixel, at most :data:`LOOKUP_SIDE` a side (nearest sampling).
        scores: per method, float16 score of the chosen class, at the size of ``labels``.
        views: picture name -> [x0, y0, x1, y1] box of every image panel in that picture.
        size: (width, height) of the segmented image.
    """
    methods: List[str]
    class_names: List[str]
    labels: List[np.ndarray]
    scores: List[np.ndarray]
    views: Dict[str, List[List[int]]]
    size: Tuple[int, int]

    @classmethod
    def from_results(cls, methods: Sequence[str], results: Sequence, views: Dict[str, Sequence[Sequence[int]]]
                     ) -> 'PixelLookup':
        dtype = np.int16 if len(results[0].classes) < 2 ** 15 else np.int32
        labels = [_shrink(r.labels, LOOKUP_SIDE).astype(dtype) for r in results]
        scores = []
        for r in results:
            if r.scores is None:
                scores.append(None)
                continue
            small = _shrink(r.labels, LOOKUP_SIDE)
            chosen = np.take_along_axis(r.scores, r.labels[None].astype(np.intp), axis=0)[0]
            scores.append(_shrink(chosen, LOOKUP_SIDE).astype(np.float16).reshape(small.shape))
        height, width = results[0].labels.shape
        return cls(list(methods), results[0].class_names, labels, scores,
                   {k: [list(map(int, b)) for b in v] for k, v in views.items()}, (width, height))

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.labels) + sum(a.nbytes for a in self.scores if a is not None)

    def image_point(self, view: str, x: float, y: float) -> Optional[Tuple[int, int]]:
        """The image pixel (column, row) under point (x, y) of picture ``view``, or None outside every panel."""
        width, height = self.size
        for x0, y0, x1, y1 in self.views.get(view, []):
            if x0 <= x < x1 and y0 <= y < y1:
                col = min(width - 1, int((x - x0) * width / (x1 - x0)))
                row = min(height - 1, int((y - y0) * height / (y1 - y0)))
                return col, row
        return None

    def rows(self, view: str, x: float, y: float) -> List[List]:
        """Table rows [method, column, row, class, score] for point (x, y) of picture ``view``; empty outside."""
        point = self.image_point(view, x, y)
        if point is None:
            return []
        col, row = point
        out = []
        for method, labels, scores in zip(self.methods, self.labels, self.scores):
            r, c = row * labels.shape[0] // self.size[1], col * labels.shape[1] // self.size[0]
            score = '-' if scores is None else round(float(scores[r, c]), 4)
            out.append([method, col, row, self.class_names[int(labels[r, c])], score])
        return out


class LookupStore:
    """The click data of recent runs, least recently used dropped first so that all of it stays within
    ``max_bytes`` (sessions keep only the key; a dropped run's clicks ask for a new run)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: 'OrderedDict[str, PixelLookup]' = OrderedDict()
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(item.nbytes for item in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def put(self, lookup: PixelLookup) -> str:
        key = uuid.uuid4().hex
        with self._lock:
            self._items[key] = lookup
            total = sum(item.nbytes for item in self._items.values())
            while total > self.max_bytes and len(self._items) > 1:
                total -= self._items.popitem(last=False)[1].nbytes
        return key

    def get(self, key: Optional[str]) -> Optional[PixelLookup]:
        with self._lock:
            item = self._items.get(key) if key else None
            if item is not None:
                self._items.move_to_end(key)
            return item


def present_classes(results: Sequence) -> List[int]:
    """Indices of the classes that have pixels in at least one result (the legends list only these)."""
    counts = sum(np.bincount(r.labels.ravel(), minlength=len(r.classes)) for r in results)
    return [int(i) for i in np.flatnonzero(counts)]


def render_views(rgb: np.ndarray, methods: Sequence[str], results: Sequence, alpha: float
                 ) -> List[Tuple[str, Image.Image, Dict, List[List[int]]]]:
    """The run's pictures as (name, picture, layout, panel boxes): for one method its overlay with its legend; for
    several the titled panels side by side with one legend (``demo.py --compare``), then each method's overlay.
    Legends list only the classes that have pixels."""
    names = results[0].class_names
    colors = class_colors(len(names))
    present = present_classes(results)
    views = []
    if len(results) > 1:
        picture, layout = render_comparison(rgb, [(m, r.labels) for m, r in zip(methods, results)], names, colors,
                                            alpha, shares=[r.pixel_shares() for r in results], legend_only=present)
        views.append((COMPARISON, picture, layout, [p['box'] for p in layout['panels']]))
    for method, result in zip(methods, results):
        shown = present_classes([result])
        picture, layout = render_overlay(rgb, result.labels, names, colors, result.pixel_shares(), alpha,
                                         legend_only=shown)
        views.append((method, picture, layout, [layout['image_box']]))
    return views


def legend_html(methods: Sequence[str], results: Sequence) -> str:
    """The legend as a table: colour, class name, then each method's share of the image (exact in data-share).
    Classes without pixels in any method are folded into one line that opens to list them."""
    names = results[0].class_names
    colors = class_colors(len(names))
    shares = [r.pixel_shares() for r in results]
    present = set(present_classes(results))
    head = ''.join(f'<th>{html.escape(m)}</th>' for m in methods)
    rows = []
    for i, name in enumerate(names):
        if i not in present:
            continue
        r, g, b = (int(c) for c in colors[i])
        cells = ''.join(f'<td class="share" data-method="{html.escape(m)}" data-share="{s[i]:.10f}">'
                        f'{100 * s[i]:.1f}%</td>' for m, s in zip(methods, shares))
        rows.append(f'<tr class="legend-row"><td><span class="swatch" style="background: rgb({r}, {g}, {b})">'
                    f'</span></td><td class="name" title="{html.escape(name)}">{html.escape(shorten(name))}</td>'
                    f'{cells}</tr>')
    table = (f'<table class="sclip-legend"><thead><tr><th>colour</th><th>class</th>{head}</tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table>')
    absent = [names[i] for i in range(len(names)) if i not in present]
    if absent:
        items = ', '.join(html.escape(shorten(n)) for n in absent)
        table += (f'<details class="sclip-absent"><summary>{len(absent)} class{"es" if len(absent) > 1 else ""} '
                  f'with no pixels (0%)</summary><div class="absent-names">{items}</div></details>')
    return table
