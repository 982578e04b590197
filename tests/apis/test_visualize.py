"""Rendering: colours, overlays, palette label maps, legends and comparison layouts."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sclip_toolkit.apis.visualize import (MARGIN, class_colors, grid_shape, label_picture, overlay,
                                          render_comparison, render_overlay)


def _labels(h=30, w=40, classes=3, seed=0):
    return np.random.default_rng(seed).integers(0, classes, (h, w))


def test_class_colors_are_distinct_and_stable():
    many = class_colors(300)
    assert many.shape == (300, 3) and many.dtype == np.uint8
    np.testing.assert_array_equal(class_colors(5), many[:5])  # index i keeps its colour whatever the count
    assert len({tuple(c) for c in many[:40]}) == 40


def test_overlay_blends_grey_image_with_class_colours():
    image = np.full((4, 6, 3), (200, 100, 50), np.uint8)
    labels = np.zeros((4, 6), np.int64)
    colors = class_colors(2)
    grey = round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)
    np.testing.assert_array_equal(overlay(image, labels, colors, alpha=0.0), np.full((4, 6, 3), grey))
    np.testing.assert_array_equal(overlay(image, labels, colors, alpha=1.0), np.broadcast_to(colors[0], (4, 6, 3)))
    labels[:, 3:] = 1
    edged = overlay(image, labels, colors, alpha=1.0)
    assert (edged[:, 2] > colors[0]).all() and (edged[:, 3] == colors[1]).all()  # the border column is lightened
    with pytest.raises(ValueError, match='differ in size'):
        overlay(image, labels[:3], colors)


def test_label_picture_is_a_palette_png(tmp_path):
    labels = _labels(classes=4)
    colors = class_colors(4)
    label_picture(labels, colors).save(tmp_path / 'l.png')
    back = Image.open(tmp_path / 'l.png')
    assert back.mode == 'P' and back.size == (40, 30)
    assert back.getpalette()[:12] == colors.reshape(-1).tolist()
    np.testing.assert_array_equal(np.asarray(back), labels)
    np.testing.assert_array_equal(np.asarray(back.convert('RGB')), colors[labels])
    big = _labels(classes=300)
    label_picture(big, class_colors(300)).save(tmp_path / 'big.png')  # too many classes for a palette
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / 'big.png')), big)


def test_overlay_picture_has_the_image_and_one_swatch_per_class():
    image = np.zeros((30, 40, 3), np.uint8)
    labels = _labels()
    colors = class_colors(3)
    picture, layout = render_overlay(image, labels, ['sky', 'tree', 'person'], colors, [0.5, 0.25, 0.25], 0.55)
    assert layout['image_box'] == [0, 0, 40, 30]
    np.testing.assert_array_equal(np.asarray(picture)[:30, :40], overlay(image, labels, colors, 0.55))
    assert [e['text'] for e in layout['legend']] == ['sky  50.0%', 'tree  25.0%', 'person  25.0%']
    pixels = np.asarray(picture)
    for entry, color in zip(layout['legend'], colors):
        x0, y0, x1, y1 = entry['swatch']
        assert y0 >= 30  # below the image
        np.testing.assert_array_equal(pixels[(y0 + y1) // 2, (x0 + x1) // 2], color)


def test_comparison_has_one_titled_panel_per_method():
    image = (np.arange(30 * 120 * 3) % 256).astype(np.uint8).reshape(30, 120, 3)
    panels = [(m, _labels(30, 120, seed=i)) for i, m in enumerate(['sclip', 'naclip', 'clearclip'])]
    colors = class_colors(3)
    picture, layout = render_comparison(image, panels, ['a', 'b', 'c'], colors)
    assert [p['title'] for p in layout['panels']] == ['sclip', 'naclip', 'clearclip'] and layout['grid'] == [1, 3]
    assert picture.width == 3 * 120 + 4 * MARGIN and len(layout['legend']) == 3
    for (title, labels), panel in zip(panels, layout['panels']):
        x0, y0, x1, y1 = panel['box']
        np.testing.assert_array_equal(np.asarray(picture)[y0:y1, x0:x1], overlay(image, labels, colors))
    wide, wide_layout = render_comparison(np.zeros((100, 1000, 3), np.uint8), [('a', np.zeros((100, 1000), int))] * 2,
                                          ['x'], colors[:1], max_panel_width=500)
    assert [p['box'][2] - p['box'][0] for p in wide_layout['panels']] == [500, 500]
    assert wide.width == 2 * 500 + 3 * MARGIN


@pytest.mark.parametrize('count, grid', [(1, (1, 1)), (3, (1, 3)), (4, (2, 2)), (5, (2, 3)), (7, (3, 3)),
                                         (10, (3, 4))])
def test_grid_shape(count, grid):
    assert grid_shape(count) == grid


def test_more_than_three_methods_make_a_grid_and_the_legend_says_what_it_shows():
    image = (np.arange(40 * 60 * 3) % 256).astype(np.uint8).reshape(40, 60, 3)
    methods = ['sclip', 'naclip', 'clearclip', 'vanilla', 'maskclip']
    panels = [(m, _labels(40, 60, seed=i)) for i, m in enumerate(methods)]
    shares = [[0.5, 0.25, 0.25]] * len(methods)
    colors = class_colors(3)
    picture, layout = render_comparison(image, panels, ['a', 'b', 'c'], colors, shares=shares)
    assert layout['grid'] == [2, 3]
    boxes = [p['box'] for p in layout['panels']]
    assert boxes[3][0] == boxes[0][0] and boxes[3][1] > boxes[0][3]  # second row, first column
    assert all(b[2] - b[0] == 60 and b[3] - b[1] == 40 for b in boxes)  # full-size panels, not squeezed in a row
    for (title, labels), box in zip(panels, boxes):
        x0, y0, x1, y1 = box
        np.testing.assert_array_equal(np.asarray(picture)[y0:y1, x0:x1], overlay(image, labels, colors))
    assert not layout['legend_shares'] and 'not shown for more than 4 methods' in layout['legend_title']
    assert [e['text'] for e in layout['legend']] == ['a', 'b', 'c']
    _, four = render_comparison(image, panels[:4], ['a', 'b', 'c'], colors, shares=shares[:4])
    assert four['grid'] == [2, 2] and four['legend_shares']
    assert four['legend_title'] == 'pixel share per method (%): sclip / naclip / clearclip / vanilla'
    assert four['legend'][0]['text'] == 'a  50.0 / 50.0 / 50.0 / 50.0 %'
    legend_top = max(p['box'][3] for p in four['panels'])
    assert all(e['swatch'][1] > legend_top for e in four['legend'])  # below every panel


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize('size', [(6, 8), (20, 12), (1, 1)])
def test_titles_of_a_tiny_image_do_not_overlap(size):
    """Issue 22, case 12: panels narrower than their titles get columns as wide as the titles."""
    h, w = size
    image = (np.arange(h * w * 3) % 256).astype(np.uint8).reshape(h, w, 3)
    methods = ['sclip', 'naclip', 'clearclip', 'proxyclip', 'resclip']
    panels = [(m, _labels(h, w, seed=i)) for i, m in enumerate(methods)]
    colors = class_colors(3)
    picture, layout = render_comparison(image, panels, ['a', 'b', 'c'], colors)
    boxes = [p['title_box'] for p in layout['panels']] + [p['box'] for p in layout['panels']]
    for i, a in enumerate(boxes):
        assert 0 <= a[0] < a[2] <= picture.width and 0 <= a[1] < a[3] <= picture.height
        for b in boxes[i + 1:]:
            assert not _overlaps(a, b), (a, b)
    pixels = np.asarray(picture)
    for (title, labels), panel in zip(panels, layout['panels']):
        x0, y0, x1, y1 = panel['box']
        np.testing.assert_array_equal(pixels[y0:y1, x0:x1], overlay(image, labels, colors))
        tx0, ty0, tx1, ty1 = panel['title_box']
        assert (pixels[ty0:ty1, tx0:tx1] != 255).any()  # the title is drawn where the layout says


def test_legend_fonts_cover_accents_chinese_and_emoji():
    """Issue 22, case 8: each character comes from a font that has it (when the set-up installed the fonts)."""
    from sclip_toolkit.apis.fonts import font_files, text_font

    files = font_files()
    names = {f.path.name for f in files}
    if not {'NotoSansCJK-Regular.ttc', 'Symbola_hint.ttf'} & names:
        pytest.skip('the wide-coverage fonts are not installed here (tools/setup_env.sh installs them as root)')
    font = text_font(20)
    for text in ('café', '猫', '🐱'):
        piece, chosen = font.runs(text)[-1]
        index = font.fonts.index(chosen)
        assert font.files[index].chars is None or ord(text[-1]) in font.files[index].chars

    def drawn(text):
        from PIL import ImageDraw
        canvas = Image.new('L', (60, 40), 0)
        font.draw(ImageDraw.Draw(canvas), (5, 5), text, 255)
        return np.asarray(canvas) > 0

    with pytest.warns(UserWarning, match=r'U\+F0000'):  # said once, then drawn as the 'missing' box
        box = drawn('\U000f0000')
    for text in ('é', '猫', '🐱'):
        assert drawn(text).any() and (drawn(text) != box).any(), text


def test_without_fonts_the_legend_falls_back_with_a_warning(monkeypatch):
    from sclip_toolkit.apis import fonts

    monkeypatch.setattr(fonts, 'font_files', lambda: ())
    fonts._warn_missing.cache_clear()
    with pytest.warns(UserWarning, match='no font with wide coverage found.*fonts-noto-core'):
        font = fonts.text_font(14)
    assert font.text_size('abc')[0] > 0
    picture, _ = render_overlay(np.zeros((20, 30, 3), np.uint8), np.zeros((20, 30), int), ['café'],
                                class_colors(1))
    assert picture.height > 20
