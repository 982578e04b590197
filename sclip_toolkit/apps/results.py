"""What the web page makes of segmentations: the picture (as ``demo.py`` draws it), the legend table, the JSON
summaries (the shapes ``demo.py`` writes), and the class and score at a clicked pixel."""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..apis.visualize import class_colors, render_comparison, render_overlay


def pixel_agreement(panels: Sequence[Tuple[str, np.ndarray]]) -> Dict[str, float]:
    """Share of pixels on which each pair of methods agrees, keyed 'a/b' (as in ``demo.py --compare``)."""
    return {f'{a[0]}/{b[0]}': float(np.mean(a[1] == b[1])) for i, a in enumerate(panels) for b in panels[i + 1:]}


@dataclass
class PixelLookup:
    """Enough of a run to answer "which class, what score" at a clicked point of its picture.

    Attributes:
        methods: one name per panel.
        class_names: display name of every class.
        labels: per method, (H, W) class index of every pixel.
        scores: per method, (H, W) float16 score of the chosen class.
        boxes: per method, [x0, y0, x1, y1] of its panel in the picture.
        size: (width, height) of the segmented image.
    """
    methods: List[str]
    class_names: List[str]
    labels: List[np.ndarray]
    scores: List[np.ndarray]
    boxes: List[List[int]]
    size: Tuple[int, int]

    @classmethod
    def from_results(cls, methods: Sequence[str], results: Sequence, boxes: Sequence[Sequence[int]]
                     ) -> 'PixelLookup':
        labels = [r.labels.astype(np.int16 if len(r.classes) < 2 ** 15 else np.int32) for r in results]
        scores = [np.take_along_axis(r.scores, r.labels[None], axis=0)[0].astype(np.float16) for r in results]
        height, width = results[0].labels.shape
        return cls(list(methods), results[0].class_names, labels, scores, [list(map(int, b)) for b in boxes],
                   (width, height))

    def image_point(self, x: float, y: float) -> Optional[Tuple[int, int]]:
        """The image pixel (column, row) under picture point (x, y), or None outside every panel."""
        width, height = self.size
        for x0, y0, x1, y1 in self.boxes:
            if x0 <= x < x1 and y0 <= y < y1:
                col = min(width - 1, int((x - x0) * width / (x1 - x0)))
                row = min(height - 1, int((y - y0) * height / (y1 - y0)))
                return col, row
        return None

    def rows(self, x: float, y: float) -> List[List]:
        """Table rows [method, column, row, class, score] for picture point (x, y); empty outside the panels."""
        point = self.image_point(x, y)
        if point is None:
            return []
        col, row = point
        return [[m, col, row, self.class_names[int(lab[row, col])], round(float(sc[row, col]), 4)]
                for m, lab, sc in zip(self.methods, self.labels, self.scores)]


def render_run(rgb: np.ndarray, methods: Sequence[str], results: Sequence, alpha: float
               ) -> Tuple[Image.Image, Dict, List[List[int]]]:
    """The run's picture: one method's overlay with its legend (colour, name, share), or for several methods the
    titled panels side by side with one legend, as ``demo.py`` and ``demo.py --compare`` draw them.

    Returns:
        The picture, its layout, and the box of every method's panel.
    """
    names = results[0].class_names
    colors = class_colors(len(names))
    if len(results) == 1:
        picture, layout = render_overlay(rgb, results[0].labels, names, colors, results[0].pixel_shares(), alpha)
        return picture, layout, [layout['image_box']]
    picture, layout = render_comparison(rgb, [(m, r.labels) for m, r in zip(methods, results)], names, colors,
                                        alpha)
    return picture, layout, [p['box'] for p in layout['panels']]


def legend_html(methods: Sequence[str], results: Sequence) -> str:
    """The legend as a table: colour, class name, then each method's share of the image (exact in data-share)."""
    names = results[0].class_names
    colors = class_colors(len(names))
    shares = [r.pixel_shares() for r in results]
    head = ''.join(f'<th>{html.escape(m)}</th>' for m in methods)
    rows = []
    for i, name in enumerate(names):
        r, g, b = (int(c) for c in colors[i])
        cells = ''.join(f'<td class="share" data-method="{html.escape(m)}" data-share="{s[i]:.10f}">'
                        f'{100 * s[i]:.1f}%</td>' for m, s in zip(methods, shares))
        rows.append(f'<tr class="legend-row"><td><span class="swatch" style="background: rgb({r}, {g}, {b})">'
                    f'</span></td><td class="name">{html.escape(name)}</td>{cells}</tr>')
    return (f'<table class="sclip-legend"><thead><tr><th>colour</th><th>class</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')
