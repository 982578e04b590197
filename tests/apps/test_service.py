"""The web app's request handling without a browser: input checks, kept models, files written."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sclip_toolkit.apis import EXAMPLE_IMAGE
from sclip_toolkit.apps.service import AppOptions, SegmentationService, UserError, load_rgb, parse_vocabulary

FAST = {'model.data_preprocessor.short_side': 112}


@pytest.fixture(scope='module')
def service(tiny_clip_path, tmp_path_factory):
    options = AppOptions(checkpoint=str(tiny_clip_path), device='cpu', cfg_options=FAST, max_side=500)
    return SegmentationService(options, work_dir=tmp_path_factory.mktemp('runs'))


def test_classes_from_text_and_file(tmp_path):
    assert parse_vocabulary(' sky, cloud; tree;', None, 10) == [['sky', 'cloud'], ['tree']]
    # Typed text naming a file on the server stays a class name: the page must not read server files.
    assert parse_vocabulary('configs/cls_voc21.txt', None, 10) == [['configs/cls_voc21.txt']]
    path = tmp_path / 'mine.txt'
    path.write_text('cat\ndog, puppy\n')
    assert parse_vocabulary('ignored', str(path), 10) == [['cat'], ['dog', 'puppy']]


@pytest.mark.parametrize('text, words', [
    ('  ', 'no classes: type some'),
    ('cat; dog; cat', "class 3: name 'cat' already appears in class 1"),
    ('cat;; dog', 'class 2 is empty'),
    ('; '.join(f'c{i}' for i in range(11)), '11 classes given; this server takes at most 10'),
])
def test_bad_classes_are_one_line(text, words):
    with pytest.raises(UserError, match=words):
        parse_vocabulary(text, None, 10)


def test_bad_class_file_named_without_server_folder(tmp_path):
    path = tmp_path / 'mine.txt'
    path.write_text('cat\n\ndog\n')
    with pytest.raises(UserError) as info:
        parse_vocabulary(None, str(path), 10)
    assert str(info.value).startswith('mine.txt:2: empty line') and str(tmp_path) not in str(info.value)


def test_images_checked_and_scaled(tmp_path):
    fake = tmp_path / 'notes.png'
    fake.write_text('this is text, not a picture\n')
    with pytest.raises(UserError, match=r'^notes.png is not an image that can be read') as info:
        load_rgb(str(fake), 1000)
    assert str(tmp_path) not in str(info.value)
    truncated = tmp_path / 'cut.jpg'
    truncated.write_bytes(EXAMPLE_IMAGE.read_bytes()[:5000])
    with pytest.raises(UserError, match='^cut.jpg is not an image'):
        load_rgb(str(truncated), 1000)
    with pytest.raises(UserError, match='no image'):
        load_rgb(None, 1000)
    rgb, original = load_rgb(str(EXAMPLE_IMAGE), 300)
    assert rgb.shape == (200, 300, 3) and original == (600, 400)
    assert load_rgb(str(EXAMPLE_IMAGE), 600)[1] is None


def test_missing_weights_say_where_they_go_without_paths(tmp_path):
    service = SegmentationService(AppOptions(device='cpu'), work_dir=tmp_path)
    assert service.readiness['sclip'] == ("it needs the CLIP ViT-B/16 weights (ViT-B-16.pt) in the server's weights "
                                          "folder")
    with pytest.raises(UserError, match=r"^sclip did not run: it needs the CLIP ViT-B/16 weights \(ViT-B-16\.pt\)"
                       ) as info:
        service.segment(str(EXAMPLE_IMAGE), 'cup; table', None, ['sclip'], {})
    cache = os.environ['SCLIP_CLIP_CACHE']  # the tests' empty cache (conftest)
    assert cache not in str(info.value) and '--' not in str(info.value)
    shown = SegmentationService(AppOptions(device='cpu', show_paths=True), work_dir=tmp_path)
    assert cache in shown.readiness['sclip']  # --show-paths: the folder is named


def test_bad_method_and_settings(service):
    with pytest.raises(UserError, match='no method chosen'):
        service.segment(str(EXAMPLE_IMAGE), 'cup', None, [], {})
    with pytest.raises(UserError, match="unknown method 'segformer'"):
        service.segment(str(EXAMPLE_IMAGE), 'cup', None, ['segformer'], {})
    with pytest.raises(UserError, match='PAMR steps: -1 is out of range'):
        service.segment(str(EXAMPLE_IMAGE), 'cup', None, ['sclip'], dict(pamr_steps=-1))


def test_compare_run_writes_demos_files_and_keeps_models(service):
    out = service.segment(str(EXAMPLE_IMAGE), 'cup; table; coffee', None, ['sclip', 'naclip'], {})
    names = sorted(p.rsplit('/', 1)[1] for p in out.files)
    assert names == ['coffee_compare.json', 'coffee_compare.png', 'coffee_naclip_labels.png',
                     'coffee_naclip_overlay.png', 'coffee_sclip_labels.png', 'coffee_sclip_overlay.png']
    summary = json.loads(Path(next(p for p in out.files if p.endswith('.json'))).read_text())
    # demo.py --compare's JSON, plus the size the image was scaled down from.
    assert set(summary) == {'image', 'bundled_example', 'size', 'output', 'methods', 'layout', 'pixel_agreement',
                            'resized_from', 'demo_command'}
    assert summary['bundled_example'] is True and summary['size'] == dict(width=500, height=333)
    assert summary['resized_from'] == dict(width=600, height=400, max_side=500)
    assert [m['method'] for m in summary['methods']] == ['sclip', 'naclip']
    assert set(summary['methods'][0]) >= {'method', 'backbone', 'checkpoint', 'device', 'classes', 'outputs',
                                          'overlay_layout', 'timing', 'settings', 'demo_command'}
    assert [c['name'] for c in summary['methods'][1]['classes']] == ['cup', 'table', 'coffee']
    for path in out.files:
        if path.endswith('_labels.png'):
            labels = Image.open(path)
            assert labels.mode == 'P' and labels.size == (500, 333)
            method = 'sclip' if 'sclip' in path else 'naclip'
            shares = [c['pixel_share'] for c in summary['methods'][['sclip', 'naclip'].index(method)]['classes']]
            counts = np.bincount(np.asarray(labels).ravel(), minlength=3) / labels.size[0] / labels.size[1]
            assert counts.tolist() == pytest.approx(shares)
    assert 'scaled down to 500x333' in out.status and 'model built' in out.status
    assert len(service.models) == 2
    again = service.segment(str(EXAMPLE_IMAGE), 'spoon', None, ['sclip'], {})
    assert len(service.models) == 2 and 'model built' not in again.status
    assert again.summary['timing']['load_s'] == 0 and again.summary['classes'][0]['pixel_share'] == 1.0
    custom = service.segment(str(EXAMPLE_IMAGE), 'cup; table', None, ['sclip'], dict(crop_size=64, stride=32))
    assert len(service.models) == 3 and 'model built' in custom.status
