"""Run pictures, legend table, JSON summaries and pixel look-up of the web app, on a hand-made result."""
from __future__ import annotations

import re

import numpy as np
import pytest

from sclip_toolkit.apis import SegmentationResult
from sclip_toolkit.apis.visualize import class_colors, class_summary
from sclip_toolkit.apps.results import LookupStore, PixelLookup, legend_html, pixel_agreement, render_views


@pytest.fixture
def results():
    """Two methods' results on a 30x40 image: left half / right half, and top / bottom."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    classes = [['sky', 'cloud'], ['tree'], ['<b>road</b>']]
    out = []
    for labels in (np.repeat([[0] * 20 + [1] * 20], 30, axis=0), np.repeat([[0]] * 10 + [[2]] * 20, 40, axis=1)):
        scores = rng.random((3, 30, 40)).astype(np.float32)
        out.append(SegmentationResult(labels.astype(np.int64), scores, classes, image))
    return out


def test_class_summary_counts_and_means(results):
    colors = class_colors(3)
    summary = class_summary(results[1], colors)
    labels, scores = results[1].labels, results[1].scores
    for entry in summary:
        mask = labels == entry['index']
        assert entry['pixels'] == int(mask.sum()) and entry['pixel_share'] == mask.mean()
        assert entry['mean_score'] == (pytest.approx(float(scores[entry['index']][mask].mean())) if mask.any()
                                       else None)
    assert class_summary(results[0], colors)[2]['mean_score'] is None  # no pixels


def test_one_method_is_its_overlay_and_several_are_panels_then_overlays(results):
    views = render_views(results[0].image, ['sclip'], results[:1], 0.5)
    assert [(v[0], v[3]) for v in views] == [('sclip', [[0, 0, 40, 30]])]
    assert 'legend' in views[0][2] and views[0][1].size[1] > 30
    views = render_views(results[0].image, ['sclip', 'naclip'], results, 0.5)
    assert [v[0] for v in views] == ['comparison', 'sclip', 'naclip']
    assert [p['title'] for p in views[0][2]['panels']] == ['sclip', 'naclip'] and len(views[0][3]) == 2
    assert views[0][1].size[0] >= 80
    # each overlay's legend lists only the classes it has pixels of
    assert [e['text'].split()[0] for e in views[1][2]['legend']] == ['sky', 'tree']
    assert [e['text'].split()[0] for e in views[2][2]['legend']] == ['sky', '<b>road</b>']


def test_pixel_lookup_maps_each_panel_to_the_image(results):
    views = render_views(results[0].image, ['a', 'b'], results, 0.5)
    boxes = views[0][3]
    lookup = PixelLookup.from_results(['a', 'b'], results, {name: b for name, _, _, b in views})
    x0, y0 = boxes[1][:2]
    rows = lookup.rows('comparison', x0 + 35.5, y0 + 25.2)  # image pixel (35, 25) through the second panel
    assert [r[:4] for r in rows] == [['a', 35, 25, 'tree'], ['b', 35, 25, '<b>road</b>']]
    assert rows[0][4] == pytest.approx(results[0].scores[1, 25, 35], abs=1e-3)
    assert lookup.rows('comparison', boxes[0][0] + 1, boxes[0][1] + 1)[1][3] == 'sky'
    assert lookup.rows('comparison', 0, 0) == [] and lookup.rows('comparison', boxes[1][2] + 1, y0) == []
    assert [r[:4] for r in lookup.rows('b', 35.5, 25.5)] == [['a', 35, 25, 'tree'], ['b', 35, 25, '<b>road</b>']]


def test_lookup_at_display_size_and_store_bounded():
    labels = np.zeros((1600, 2400), dtype=np.int64)
    labels[:, 1200:] = 1
    big = SegmentationResult(labels, None, [['a'], ['b']], np.zeros((1600, 2400, 3), np.uint8))
    lookup = PixelLookup.from_results(['m'], [big], {'m': [[0, 0, 2400, 1600]]})
    assert lookup.labels[0].shape == (533, 800) and lookup.scores == [None]
    assert lookup.rows('m', 1199, 5)[0][3] == 'a' and lookup.rows('m', 1203, 5)[0][3] == 'b'
    assert lookup.rows('m', 1203, 5)[0][4] == '-'
    store = LookupStore(max_bytes=3 * lookup.nbytes)
    keys = [store.put(lookup) for _ in range(5)]
    assert len(store) == 3 and store.get(keys[0]) is None and store.get(keys[4]) is lookup
    assert store.nbytes <= 3 * lookup.nbytes


def test_legend_lists_classes_with_exact_shares(results):
    text = legend_html(['a', 'b'], results)
    assert re.findall(r'class="name" title="[^"]*">([^<]*)<', text) == ['sky', 'tree', '&lt;b&gt;road&lt;/b&gt;']
    for method in ('a', 'b'):
        shares = [float(s) for s in re.findall(rf'data-method="{method}" data-share="([0-9.]+)"', text)]
        assert len(shares) == 3 and sum(shares) == pytest.approx(1.0, abs=1e-9)
    assert '50.0%' in text and '66.7%' in text


def test_pixel_agreement(results):
    assert pixel_agreement([('a', results[0].labels), ('b', results[1].labels)]) == {'a/b': pytest.approx(1 / 6)}
