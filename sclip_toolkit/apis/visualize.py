"""Pictures of segmentations: colour overlays with a legend, side-by-side comparisons, palette label maps.

Every renderer returns the picture and its layout (where the image panels and legend swatches are, in pixels),
so callers can record it and tests can check the picture against the data.
"""
from __future__ import annotations

import colorsys
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .fonts import TextFont, text_font

# Well-separated colours for the first classes; later ones step round the hue circle by the golden ratio.
BASE_COLORS = np.array([
    (228, 26, 28), (55, 126, 184), (77, 175, 74), (255, 127, 0), (152, 78, 163), (255, 221, 51),
    (166, 86, 40), (247, 129, 191), (23, 190, 207), (140, 140, 140), (188, 189, 34), (31, 61, 122),
], dtype=np.uint8)
MARGIN = 8  # pixels around panels and legend entries
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)


def class_colors(num_classes: int) -> np.ndarray:
    """(num_classes, 3) uint8 RGB colours, the same for a given index whatever the number of classes."""
    colors = [tuple(c) for c in BASE_COLORS[:num_classes]]
    for i in range(len(colors), num_classes):
        hue = (i * 0.618033988749895) % 1.0
        sat, val = (0.75, 0.95) if i % 2 else (0.55, 0.75)
        colors.append(tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, sat, val)))
    return np.array(colors, dtype=np.uint8).reshape(num_classes, 3)


def font_for(image_size: Tuple[int, int], size: Optional[int] = None) -> TextFont:
    """A legend font scaled with the image (12 to 40 px), with wide coverage (see :mod:`.fonts`)."""
    if size is None:
        size = int(np.clip(round(max(image_size) / 40), 12, 40))
    return text_font(size)


def _text_size(font: TextFont, text: str) -> Tuple[int, int]:
    return font.text_size(text)


def _line_height(font: TextFont) -> int:
    return _text_size(font, 'Hg%')[1] + 4


def overlay(image: np.ndarray, labels: np.ndarray, colors: np.ndarray, alpha: float = 0.55,
            edges: bool = True, desaturate: bool = True) -> np.ndarray:
    """Image (H, W, 3) uint8 RGB blended with the class colours of ``labels`` (H, W); region borders in white.

    The image is turned grey first (``desaturate``) so that a blended colour still matches its legend swatch.
    """
    if image.shape[:2] != labels.shape:
        raise ValueError(f'image {image.shape[:2]} and label map {labels.shape} differ in size')
    if not 0 <= alpha <= 1:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    out = np.empty(image.shape, dtype=np.uint8)
    # rows in bands of about 1M pixels: float temporaries stay small whatever the image size (same result)
    band = max(1, (1 << 20) // max(1, image.shape[1]))
    for r0 in range(0, image.shape[0], band):
        r1 = min(image.shape[0], r0 + band)
        out[r0:r1] = _overlay_rows(image[r0:r1], labels[r0:r1], labels[r1:r1 + 1], colors, alpha, edges,
                                   desaturate)
    return out


def _overlay_rows(image: np.ndarray, labels: np.ndarray, below: np.ndarray, colors: np.ndarray, alpha: float,
                  edges: bool, desaturate: bool) -> np.ndarray:
    """:func:`overlay` of a band of rows; ``below`` is the label row under the band (empty at the bottom)."""
    base = image.astype(np.float32)
    if desaturate:
        base = np.repeat(base @ np.array([0.299, 0.587, 0.114], dtype=np.float32), 3).reshape(base.shape)
    out = (1 - alpha) * base + alpha * colors[labels].astype(np.float32)
    if edges:
        border = np.zeros(labels.shape, dtype=bool)
        border[:-1] |= labels[:-1] != labels[1:]
        if len(below):
            border[-1] |= labels[-1] != below[0]
        border[:, :-1] |= labels[:, :-1] != labels[:, 1:]
        out[border] = 0.3 * out[border] + 0.7 * 255
    return np.round(out).clip(0, 255).astype(np.uint8)


def label_picture(labels: np.ndarray, colors: np.ndarray) -> Image.Image:
    """The label map as a palette PNG image (mode 'P', entry i = class i's colour); 16-bit grey above 256 classes."""
    if len(colors) > 256:
        return Image.fromarray(labels.astype(np.uint16))
    picture = Image.fromarray(labels.astype(np.uint8))
    picture.putpalette(colors.reshape(-1).tolist())  # turns the 'L' image into 'P' with these entries
    return picture


def _legend_layout(entries: Sequence[str], font, width: int) -> Tuple[List[Tuple[int, int]], int, int]:
    """Top-left corners of the entries laid out in columns within ``width``, and the legend's (width, height)."""
    line = _line_height(font)
    swatch = line
    item_w = max(_text_size(font, t)[0] for t in entries) + swatch + 3 * MARGIN
    cols = max(1, min(len(entries), (width - MARGIN) // item_w))
    rows = math.ceil(len(entries) / cols)
    corners = [(MARGIN + (i // rows) * item_w, MARGIN + (i % rows) * (line + MARGIN // 2))
               for i in range(len(entries))]
    return corners, max(width, cols * item_w + MARGIN), rows * (line + MARGIN // 2) + MARGIN


def _draw_legend(canvas: Image.Image, top: int, texts: Sequence[str], colors: np.ndarray, font,
                 corners: Sequence[Tuple[int, int]]) -> List[dict]:
    draw = ImageDraw.Draw(canvas)
    line = _line_height(font)
    entries = []
    for text, color, (x, y) in zip(texts, colors, corners):
        box = [x, top + y, x + line, top + y + line]
        draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=tuple(int(c) for c in color),
                       outline=TEXT)
        font.draw(draw, (x + line + MARGIN, top + y + 2), text, TEXT)
        entries.append(dict(text=text, color=[int(c) for c in color], swatch=box))
    return entries


def legend_texts(names: Sequence[str], shares: Optional[Sequence[float]] = None) -> List[str]:
    """Legend lines: 'name' or 'name  12.3%' (share of the image's pixels)."""
    if shares is None:
        return list(names)
    return [f'{n}  {100 * s:.1f}%' for n, s in zip(names, shares)]


def render_overlay(image: np.ndarray, labels: np.ndarray, names: Sequence[str], colors: np.ndarray,
                   shares: Optional[Sequence[float]] = None, alpha: float = 0.55) -> Tuple[Image.Image, Dict]:
    """The overlay at full size (top left) with a legend underneath: colour, class name, share of the image.

    Returns:
        The picture and its layout: ``image_box`` [x0, y0, x1, y1] of the overlay and ``legend`` entries
        (text, colour, swatch box).
    """
    height, width = labels.shape
    font = font_for((width, height))
    texts = legend_texts(names, shares)
    corners, legend_w, legend_h = _legend_layout(texts, font, width)
    canvas = Image.new('RGB', (max(width, legend_w), height + legend_h), BACKGROUND)
    canvas.paste(Image.fromarray(overlay(image, labels, colors, alpha)), (0, 0))
    legend = _draw_legend(canvas, height, texts, colors, font, corners)
    return canvas, dict(image_box=[0, 0, width, height], legend=legend)


def grid_shape(count: int, max_columns: int = 3) -> Tuple[int, int]:
    """(rows, columns) of ``count`` panels: one row up to ``max_columns``, then a near-square grid (4 -> 2x2,
    5 or 6 -> 2x3, 7 to 9 -> 3x3) so that panels keep a readable size."""
    if count <= max_columns:
        return 1, max(1, count)
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


def comparison_legend(names: Sequence[str], methods: Sequence[str],
                      shares: Optional[Sequence[Sequence[float]]] = None, max_methods: int = 4
                      ) -> Tuple[List[str], str, bool]:
    """Legend lines and title of a comparison, and whether the lines show each method's pixel shares.

    With ``shares`` ((methods x classes) fractions) and at most ``max_methods`` methods, a line reads
    'cup  12.3 / 10.1 / 9.8 %' in panel order and the title names that order; otherwise lines are the names and the
    title says the shares are not shown.
    """
    if shares is not None and len(methods) <= max_methods:
        lines = [f'{n}  ' + ' / '.join(f'{100 * s[c]:.1f}' for s in shares) + ' %' for c, n in enumerate(names)]
        return lines, 'pixel share per method (%): ' + ' / '.join(methods), True
    reason = 'not shown' if shares is None else f'not shown for more than {max_methods} methods'
    return list(names), f'pixel shares {reason} (see each method\'s overlay)', False


def render_comparison(image: np.ndarray, panels: Sequence[Tuple[str, np.ndarray]], names: Sequence[str],
                      colors: np.ndarray, alpha: float = 0.55, max_panel_width: int = 640,
                      shares: Optional[Sequence[Sequence[float]]] = None, max_columns: int = 3
                      ) -> Tuple[Image.Image, Dict]:
    """One overlay panel per (title, labels), titled, in one row (up to ``max_columns``) or a near-square grid, with
    one legend (names and colours; each method's pixel shares when ``shares`` is given for few enough methods).

    Panels are the image scaled to at most ``max_panel_width`` wide (label maps by nearest neighbour).

    Returns:
        The picture and its layout: ``panels`` (title, box, title_box), ``grid`` [rows, columns], ``legend`` entries,
        ``legend_title`` and ``legend_shares`` (whether the entries show the shares).
    """
    height, width = image.shape[:2]
    scale = min(1.0, max_panel_width / width)
    pw, ph = max(1, round(width * scale)), max(1, round(height * scale))
    font = font_for((pw, ph))
    title_h = _line_height(font) + MARGIN
    small = np.asarray(Image.fromarray(image).resize((pw, ph), Image.BILINEAR)) if scale < 1 else image
    rows, cols = grid_shape(len(panels), max_columns)
    # A column is as wide as its panel or its widest title, whichever is wider: on a tiny image the titles would
    # otherwise run into each other.
    title_ws = [_text_size(font, title)[0] for title, _ in panels]
    col_w = [max([pw] + [title_ws[i] for i in range(c, len(panels), cols)]) for c in range(cols)]
    col_x = [MARGIN + sum(w + MARGIN for w in col_w[:c]) for c in range(cols)]
    content_w = sum(w + MARGIN for w in col_w) + MARGIN
    cell_h = title_h + ph + MARGIN
    texts, legend_title, with_shares = comparison_legend(names, [t for t, _ in panels], shares)
    corners, legend_w, legend_h = _legend_layout(texts, font, content_w)
    legend_top = MARGIN + rows * cell_h
    title_w = _text_size(font, legend_title)[0] + 2 * MARGIN
    canvas = Image.new('RGB', (max(content_w, legend_w, title_w), legend_top + _line_height(font) + legend_h),
                       BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    boxes = []
    for i, (title, labels) in enumerate(panels):
        if labels.shape != (height, width):
            raise ValueError(f'panel {title!r}: label map {labels.shape} differs from the image {(height, width)}')
        if scale < 1:
            labels = np.asarray(Image.fromarray(labels.astype(np.int32)).resize((pw, ph), Image.NEAREST))
        row, col = divmod(i, cols)
        x, y = col_x[col] + (col_w[col] - pw) // 2, MARGIN + row * cell_h  # the panel centred in its column
        canvas.paste(Image.fromarray(overlay(small, labels.astype(np.int64), colors, alpha)), (x, y + title_h))
        tx = col_x[col] + (col_w[col] - title_ws[i]) // 2
        font.draw(draw, (tx, y), title, TEXT)
        boxes.append(dict(title=title, box=[x, y + title_h, x + pw, y + title_h + ph],
                          title_box=[tx, y, tx + title_ws[i], y + title_h - MARGIN]))
    font.draw(draw, (MARGIN, legend_top), legend_title, TEXT)
    legend = _draw_legend(canvas, legend_top + _line_height(font), texts, colors, font, corners)
    return canvas, dict(panels=boxes, grid=[rows, cols], legend=legend, legend_title=legend_title,
                        legend_shares=with_shares)


def class_summary(result, colors: np.ndarray) -> List[Dict]:
    """Per class: names, colour, pixel count and share, mean score over its pixels (null when it has none).

    The entries of the JSON ``classes`` list that ``demo.py`` and the web app write.
    """
    shares, means = result.pixel_shares(), result.mean_scores()
    counts = np.bincount(result.labels.ravel(), minlength=len(result.classes))
    return [dict(index=i, name=names[0], names=list(names), color=[int(c) for c in colors[i]],
                 pixels=int(counts[i]), pixel_share=float(shares[i]),
                 mean_score=None if math.isnan(means[i]) else float(means[i]))
            for i, names in enumerate(result.classes)]
