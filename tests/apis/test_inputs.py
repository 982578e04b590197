"""Image files read with a guard: pixel limit from the header, reduced decoding of large pictures."""
from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sclip_toolkit.apis import SegmenterError, load_image, load_scaled
from sclip_toolkit.apis.inputs import ImageTooLargeError, decode_file, header_size
from sclip_toolkit.datasets.loading import decode_image


def bomb_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A small PNG whose header announces width x height (the pixel data is a few bytes of zeros: a file that a
    full decode would turn into width * height * 3 bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\x00' * 64))
                     + chunk(b'IEND', b''))
    return path


def smooth_rgb(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1).astype(np.uint8)


def test_bomb_refused_from_the_header_in_the_api_and_demo(tmp_path, capsys):
    bomb = bomb_png(tmp_path / 'bomb.png')
    assert bomb.stat().st_size < 200 and header_size(bomb.read_bytes()) == (30000, 30000)
    start = time.perf_counter()
    with pytest.raises(SegmenterError, match=r'^bomb.png: the picture has 30000x30000 = 900 megapixels, above the '
                                             r'limit of 100 megapixels; .*max_pixels=N'):
        load_image(bomb)
    assert time.perf_counter() - start < 2  # refused before any decoding
    with pytest.raises(ImageTooLargeError, match='above the limit of 5 megapixels'):
        decode_file(bomb_png(tmp_path / 'b.png', 3000, 2000), max_pixels=5_000_000)
    import demo
    assert demo.main(['--image', str(bomb), '--classes', 'a; b', '--out', str(tmp_path / 'out')]) != 0
    err = capsys.readouterr().err
    assert 'above the limit of 100 megapixels' in err and '--max-megapixels' in err and 'Traceback' not in err
    assert not (tmp_path / 'out').exists()


def test_within_max_side_decoded_as_the_evaluation_pipeline(tmp_path):
    path = tmp_path / 'small.jpg'
    Image.fromarray(smooth_rgb(90, 120)).save(path, quality=90)
    rgb, original = decode_file(path, max_side=200)
    assert original is None
    assert np.array_equal(rgb, decode_image(path.read_bytes(), str(path))[..., ::-1])


@pytest.mark.parametrize('suffix', ['jpg', 'png'])
def test_large_picture_decoded_reduced(tmp_path, suffix, monkeypatch):
    full = smooth_rgb(1200, 1600)
    path = tmp_path / f'large.{suffix}'
    Image.fromarray(full).save(path)
    drafts = []
    if suffix == 'jpg':
        from PIL import JpegImagePlugin
        original_draft = JpegImagePlugin.JpegImageFile.draft
        monkeypatch.setattr(JpegImagePlugin.JpegImageFile, 'draft',
                            lambda self, mode, size: drafts.append(size) or original_draft(self, mode, size))
    rgb, original = decode_file(path, max_side=200)
    assert rgb.shape == (150, 200, 3) and original == (1200, 1600)
    if suffix == 'jpg':
        assert drafts == [(200, 150)]  # the decoder scaled by 1/8 while decoding
    reference = np.asarray(Image.fromarray(full).resize((200, 150), Image.BOX)).astype(int)
    assert np.abs(rgb.astype(int) - reference).mean() < 4
    assert load_scaled(str(path), 200)[0].shape == (150, 200, 3)


def test_exif_rotation_applied_when_reduced(tmp_path):
    path = tmp_path / 'rotated.jpg'
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(smooth_rgb(600, 800)).save(path, exif=exif)
    rgb, original = decode_file(path, max_side=100)
    assert rgb.shape == (100, 75, 3) and original == (800, 600)
    assert decode_file(path)[0].shape == (800, 600, 3)  # the full decode agrees on the orientation
