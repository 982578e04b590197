"""datasets/cvt_coco_object.py on a generated miniature COCO-Stuff-164k: exact COCO-Object labels."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'datasets' / 'cvt_coco_object.py'

# raw COCO-Stuff value (category id - 1) -> COCO-Object label
EXPECTED = {
    0: 1,      # person
    1: 2,      # bicycle
    12: 12,    # stop sign (raw 11 = category 12 is unused, so the things are renumbered consecutively)
    26: 25,    # backpack (after the unused 25)
    66: 61,    # dining table
    69: 62,    # toilet
    89: 80,    # toothbrush, the last thing
    91: 0,     # banner, the first stuff class -> background
    150: 0,    # stuff
    181: 0,    # wood, the last stuff class
    255: 0,    # unlabelled -> background (GroupViT/TCL protocol)
}


def _write(path: Path, values) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(values, dtype=np.uint8)).save(path)


def test_converts_things_to_1_80_and_stuff_and_unlabelled_to_0(tmp_path):
    src = tmp_path / 'coco_stuff164k'
    raw = np.array([list(EXPECTED)], dtype=np.uint8).repeat(3, axis=0)
    _write(src / 'annotations' / 'val2017' / '000000000139.png', raw)
    _write(src / 'annotations' / 'train2017' / '000000000009.png', raw[:, ::-1])
    _write(src / 'annotations' / 'val2017' / '000000000139_labelTrainIds.png', raw * 0 + 7)  # must be skipped
    _write(src / 'images' / 'val2017' / '000000000139.jpg', np.zeros((4, 4, 3)))
    out = tmp_path / 'coco_object'

    proc = subprocess.run([sys.executable, str(SCRIPT), str(src), '-o', str(out), '--nproc', '1'],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'found 2 label maps' in proc.stderr and '123287' in proc.stderr  # a warning, not a failure

    val = np.array(Image.open(out / 'annotations' / 'val2017' / '000000000139_instanceTrainIds.png'))
    train = np.array(Image.open(out / 'annotations' / 'train2017' / '000000000009_instanceTrainIds.png'))
    expected = np.array([list(EXPECTED.values())], dtype=np.uint8).repeat(3, axis=0)
    assert val.dtype == np.uint8
    np.testing.assert_array_equal(val, expected)
    np.testing.assert_array_equal(train, expected[:, ::-1])
    written = sorted(p.name for p in (out / 'annotations').rglob('*.png'))
    assert written == ['000000000009_instanceTrainIds.png', '000000000139_instanceTrainIds.png']
    assert (out / 'images' / 'val2017' / '000000000139.jpg').is_file()  # images copied beside the labels


def test_reports_a_root_without_label_maps(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), '--nproc', '1'], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode != 0
    assert 'no raw COCO-Stuff label maps found' in proc.stderr
