"""Image loading: odd formats work, broken files are refused with their name."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sclip_toolkit.datasets.loading import ImageLoadError, LoadImageChecked


def _load(path):
    return LoadImageChecked()(dict(img_path=str(path)))


@pytest.mark.parametrize('mode, ext', [('L', 'png'), ('RGBA', 'png'), ('P', 'png'), ('RGB', 'jpg'), ('I;16', 'png')])
def test_formats_load_as_bgr_uint8(tmp_path, mode, ext):
    rng = np.random.RandomState(0)
    if mode == 'I;16':
        img = Image.fromarray(rng.randint(0, 65535, (20, 30), dtype=np.uint16))
    elif mode == 'P':
        img = Image.fromarray(rng.randint(0, 255, (20, 30, 3), dtype=np.uint8)).convert('P')
    else:
        img = Image.fromarray(rng.randint(0, 255, (20, 30, 4), dtype=np.uint8)).convert(mode)
    path = tmp_path / f'x.{ext}'
    img.save(path)
    out = _load(path)
    assert out['img'].shape == (20, 30, 3) and out['img'].dtype == np.uint8
    assert out['ori_shape'] == (20, 30)


def test_rgb_png_is_bgr(tmp_path):
    arr = np.zeros((4, 5, 3), dtype=np.uint8)
    arr[..., 0] = 200  # red
    Image.fromarray(arr).save(tmp_path / 'r.png')
    assert _load(tmp_path / 'r.png')['img'][0, 0].tolist() == [0, 0, 200]


@pytest.mark.parametrize('ext', ['jpg', 'png'])
def test_truncated_files_are_named(tmp_path, ext):
    path = tmp_path / f'cut.{ext}'
    Image.fromarray(np.random.RandomState(0).randint(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ImageLoadError, match=rf'cut\.{ext}: the .* file is truncated'):
        _load(path)


def test_corrupt_empty_and_missing_files_are_named(tmp_path):
    (tmp_path / 'junk.jpg').write_bytes(b'this is not an image at all' * 10)
    with pytest.raises(ImageLoadError, match=r'junk\.jpg: cannot decode'):
        _load(tmp_path / 'junk.jpg')
    (tmp_path / 'empty.png').write_bytes(b'')
    with pytest.raises(ImageLoadError, match=r'empty\.png: the file is empty'):
        _load(tmp_path / 'empty.png')
    with pytest.raises(ImageLoadError, match=r'nope\.png: cannot read'):
        _load(tmp_path / 'nope.png')
