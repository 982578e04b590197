"""The API under threads (each call its own vocabulary), and inputs that must agree whatever their form."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from sclip_toolkit import Segmenter
from sclip_toolkit.apis import SegmenterError, load_image, parse_classes

from .test_segmenter import FAST, _photo

VOCABULARIES = ['sky, cloud; tree; person, man, woman',
                ['road', 'car, automobile', 'building, house', 'sky'],
                'cat; dog',
                ['water', 'boat', 'beach, sand', 'palm tree', 'sky, cloud']]


def test_threads_with_different_vocabularies_get_the_sequential_results(tiny_clip_path):
    """Issue 22, case 1: four threads on one Segmenter, each its own classes and image, several rounds."""
    seg = Segmenter('clearclip', checkpoint=str(tiny_clip_path), device='cpu', cfg_options=FAST)
    images = [_photo(seed=i) for i in range(len(VOCABULARIES))]
    expected = [seg(image, classes) for image, classes in zip(images, VOCABULARIES)]
    assert len({r.labels.tobytes() for r in expected}) == len(expected)  # the vocabularies make a difference

    rounds, results, errors = 3, {}, []
    barrier = threading.Barrier(len(VOCABULARIES))

    def work(i: int) -> None:
        try:
            barrier.wait()
            results[i] = [seg(images[i], VOCABULARIES[i]) for _ in range(rounds)]
        except BaseException as exc:  # reported below: an exception in a thread would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(VOCABULARIES))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for i, ref in enumerate(expected):
        for got in results[i]:
            assert got.classes == ref.classes
            np.testing.assert_array_equal(got.labels, ref.labels)
            np.testing.assert_array_equal(got.scores, ref.scores)


def test_a_calls_classes_stay_for_later_calls(tiny_clip_path):
    seg = Segmenter('vanilla', checkpoint=str(tiny_clip_path), device='cpu', cfg_options=FAST, classes='cat; dog')
    assert seg(_photo()).class_names == ['cat', 'dog'] and seg.classes == [['cat'], ['dog']]
    assert seg(_photo(), 'sky; tree; road').class_names == ['sky', 'tree', 'road']
    assert seg(_photo()).class_names == ['sky', 'tree', 'road'] and seg.classes == [['sky'], ['tree'], ['road']]
    with pytest.raises(SegmenterError, match='no classes yet'):
        Segmenter('vanilla', checkpoint=str(tiny_clip_path), device='cpu', cfg_options=FAST)(_photo())


def test_a_long_class_string_is_not_taken_for_a_file_name():
    """21 VOC classes with synonyms are over 255 bytes: an OSError 'File name too long' before."""
    text = ('background, wall, floor; aeroplane, airplane, plane; bicycle, bike; bird; boat, ship; bottle; bus; car; '
            'cat, kitten; chair, seat; cow, cattle; dining table, table; dog, puppy; horse; motorbike, motorcycle; '
            'person, people, man, woman, child; potted plant, houseplant; sheep; sofa, couch; train; tv monitor, '
            'television, screen')
    assert len(text.encode()) > 255
    classes = parse_classes(text)
    assert len(classes) == 21 and classes[1] == ['aeroplane', 'airplane', 'plane']


def test_a_pil_image_with_exif_orientation_is_turned_upright_like_its_file(tmp_path):
    """Issue 22, case 10: the same file as a path and as a PIL image gives the same pixels."""
    rgb = _photo(40, 60)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = tmp_path / 'rotated.jpg'
    Image.fromarray(rgb).save(path, exif=exif, quality=95)
    from_path = load_image(str(path))
    with Image.open(path) as opened:
        from_pil = load_image(opened)
    assert from_path.shape == from_pil.shape == (60, 40, 3)
    assert np.abs(from_path.astype(int) - from_pil.astype(int)).mean() < 2  # two JPEG decoders, same picture
