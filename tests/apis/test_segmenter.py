"""The Python API: configs per method, image conversion, vocabularies, and equality with the registered segmentor."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sclip_toolkit import Segmenter
from sclip_toolkit.apis import build_segmentor, run_segmentor
from sclip_toolkit.apis import (EXAMPLE_CLASSES, EXAMPLE_IMAGE, SegmenterError, available_methods,
                                          load_image, method_config, parse_classes)
from sclip_toolkit.config import CONFIG_DIR, load_config
from sclip_toolkit.models.text import ClassNameError

from ..conftest import parity_fixture

# Small settings for tests that are about inputs, not about a method's numbers: a 64-pixel short side (one
# window per image) and two prompt templates.
FAST = {'model.data_preprocessor.short_side': 64,
        'model.text_encoder.templates': ['a photo of a {}.', 'a {} in a scene.']}
CLASSES = 'sky, cloud; tree; person, man, woman'


def _photo(h: int = 48, w: int = 72, seed: int = 0) -> np.ndarray:
    """A smooth RGB test picture (gradients + blobs), so segmentations are not pure noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    planes = [np.sin(6 * x + 2 * y + p) for p in rng.uniform(0, 6, 3)]
    return np.round(127.5 + 120 * np.stack(planes, axis=-1)).astype(np.uint8)


@pytest.fixture(scope='module')
def fast_segmenter(tiny_clip_path):
    return Segmenter('sclip', checkpoint=str(tiny_clip_path), device='cpu', cfg_options=FAST)


# ------------------------------------------------------------------------------------------- methods and configs
def test_methods_and_unknown_name_lists_them():
    methods = available_methods()
    assert {'sclip', 'naclip', 'clearclip', 'proxyclip', 'scclip', 'resclip', 'vanilla', 'maskclip'} <= set(methods)
    assert methods == sorted(p.stem for p in (CONFIG_DIR / '_base_' / 'methods').glob('*.py'))  # found, not listed
    assert 'proxy' not in methods  # ProxyCLIP's attention is the proxyclip method, not a VFM-less baseline
    with pytest.raises(SegmenterError, match=f"unknown method 'segformer'; valid: {', '.join(methods)}$"):
        method_config('segformer')


@pytest.mark.parametrize('method,attn,short_side', [
    ('sclip', 'SCLIPAttention', 336), ('naclip', 'NACLIPAttention', 336), ('clearclip', 'ClearCLIPAttention', 448),
    ('proxyclip', 'ProxyAttention', 336), ('scclip', 'SCCLIPAttention', 336), ('resclip', 'ResCLIPAttention', 336),
    ('vanilla', 'VanillaAttention', 336), ('maskclip', 'MaskCLIPAttention', 336)])
def test_method_config_is_the_method_base_with_free_form_settings(method, attn, short_side):
    cfg = method_config(method)
    assert cfg.model.type == 'OVSegmentor'
    assert cfg.model.clip.final_attn['type'] == attn
    assert cfg.model.data_preprocessor.short_side == short_side
    assert not [s for s in cfg.model.post_process if s['type'] in ('ProbThreshold', 'AreaThreshold')]
    assert cfg.model.text_encoder.separator is None and cfg.model.clip.name == 'ViT-B/16'
    assert 'test_dataloader' not in cfg  # dataset-free


def test_method_config_backbones(tmp_path, tiny_clip_path):
    vitl = method_config('scclip', 'ViT-L/14')
    assert vitl.model.clip.name == 'ViT-L/14' and vitl.model.clip.final_attn['pre_adjust_idx'] == 16
    assert method_config('scclip', 'ViT-L/14-336').model.clip.final_attn['pre_adjust_idx'] == 16
    assert method_config('scclip', 'ViT-B/16').model.clip.final_attn['pre_adjust_idx'] == 8
    as_file = method_config('sclip', str(tiny_clip_path))  # a backbone that is a file is a checkpoint
    assert as_file.model.clip.checkpoint == str(tiny_clip_path)
    proxy = method_config('proxyclip', vfm_checkpoint='/weights/dino.pth', download=False)
    assert proxy.model.clip.vfm.checkpoint == '/weights/dino.pth' and proxy.model.clip.vfm.download is False
    with pytest.raises(SegmenterError, match='no vision foundation model'):
        method_config('sclip', vfm_checkpoint='/weights/dino.pth')
    pair = method_config(config='sclip_voc21')  # a dataset config keeps its thresholds
    assert pair.model.post_process == [dict(type='AreaThreshold', threshold=0.1),
                                       dict(type='ProbThreshold', threshold=0.1)]
    assert method_config(config='scclip_vitl14_voc21').model.clip.name == 'ViT-L/14'  # and its backbone
    baseline = method_config('vanilla', cfg_options={'model.clip.final_attn.type': 'MaskCLIPAttention'})
    assert baseline.model.clip.final_attn['type'] == 'MaskCLIPAttention'  # user overrides come last


@pytest.mark.parametrize('options, message', [
    ({'model.logit_scale': 'banana'}, "model.logit_scale: expected a number, got 'banana'"),
    ({'model.post_process': [dict(type='PAMR', step=3)]}, "model.post_process[0].step: unknown key of PAMR (did you "
                                                          "mean 'steps'?)"),
    ({'model.clip.vfm.patch_sise': 16}, "model.clip.vfm.patch_sise: unknown key of VFMFeatures (did you mean "
                                        "'patch_size'?)"),
])
def test_api_overrides_are_checked_before_anything_is_built(options, message):
    with pytest.raises(SegmenterError) as err:
        method_config('proxyclip', cfg_options=options)
    assert message in str(err.value)


def test_bad_device_and_missing_weights_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(SegmenterError, match="unknown device 'gpu0'"):
        Segmenter('sclip', device='gpu0')
    from sclip_toolkit.models.checkpoint import CheckpointError
    monkeypatch.setenv('SCLIP_CLIP_CACHE', str(tmp_path))
    with pytest.raises(CheckpointError, match=r'not found at .*ViT-B-16\.pt\. Download https://'):
        Segmenter('sclip', device='cpu', download=False)


# ------------------------------------------------------------------------------------------- same code path
def test_result_equals_the_registered_segmentor_on_its_config(tiny_clip_path):
    """The API is the config + OVSegmentor + data_preprocessor/predict path, not a copy of it."""
    image = parity_fixture('inputs/img_375x500.png')
    seg = Segmenter('clearclip', checkpoint=str(tiny_clip_path), device='cpu')
    got = seg(str(image), CLASSES)
    cfg = load_config(str(CONFIG_DIR / '_base_' / 'methods' / 'clearclip.py'), checkpoint=str(tiny_clip_path))
    cfg.model.text_encoder.class_names = [['sky', 'cloud'], ['tree'], ['person', 'man', 'woman']]
    ref = run_segmentor(build_segmentor(cfg, 'cpu'), cfg, [str(image)])[0]
    np.testing.assert_array_equal(got.labels, ref.pred_sem_seg.data[0].numpy())
    np.testing.assert_allclose(got.scores, ref.seg_logits.data.numpy(), rtol=0, atol=1e-6)
    assert got.labels.shape == (375, 500) and got.scores.shape == (3, 375, 500)


def test_labels_are_the_argmax_and_statistics_match(fast_segmenter):
    result = fast_segmenter(_photo(), CLASSES)
    assert result.classes == [['sky', 'cloud'], ['tree'], ['person', 'man', 'woman']]
    assert result.class_names == ['sky', 'tree', 'person']
    np.testing.assert_array_equal(result.labels, result.scores.argmax(0))  # prob_thd 0, no area threshold
    counts = np.bincount(result.labels.ravel(), minlength=3)
    np.testing.assert_allclose(result.pixel_shares(), counts / result.labels.size)
    for c in range(3):
        mask = result.labels == c
        expected = result.scores[c][mask].mean() if mask.any() else np.nan
        np.testing.assert_allclose(result.mean_scores()[c], expected, rtol=1e-6)
    assert set(result.timing) == {'text_s', 'inference_s'}


# ------------------------------------------------------------------------------------------- vocabularies
def test_class_specs():
    assert parse_classes('sky, cloud; tree;') == [['sky', 'cloud'], ['tree']]
    assert parse_classes(['sky, cloud', ['tree', 'bush']]) == [['sky', 'cloud'], ['tree', 'bush']]
    assert parse_classes('configs/classnames/cls_voc21.txt').name == 'cls_voc21.txt'  # project-relative file
    with pytest.raises(ClassNameError, match="'missing.txt' not found"):
        parse_classes('missing.txt')
    with pytest.raises(ClassNameError, match='no classes'):
        parse_classes('  ')
    with pytest.raises(ClassNameError, match="name 'tree' already appears"):
        parse_classes('tree; bush, tree')


def test_vocabulary_switches_per_call_and_embeddings_are_cached(fast_segmenter, tmp_path):
    image = _photo(seed=1)
    first = fast_segmenter(image, CLASSES)
    class_file = tmp_path / 'mine.txt'
    class_file.write_text('road\ncar; automobile\nbuilding, house\nsky\n', encoding='utf-8')
    other = fast_segmenter(image, str(class_file))
    assert other.classes == [['road'], ['car', 'automobile'], ['building', 'house'], ['sky']]
    assert other.scores.shape[0] == 4 and other.labels.max() < 4
    fast_segmenter.set_classes(CLASSES)
    assert fast_segmenter.model.text_encoder.is_cached(fast_segmenter.model.clip)
    again = fast_segmenter(image)  # no new embeddings for a vocabulary seen before
    np.testing.assert_array_equal(again.labels, first.labels)
    np.testing.assert_array_equal(fast_segmenter(image).labels, first.labels)  # the last vocabulary stays


def test_segmenting_needs_classes(tiny_clip_path):
    seg = Segmenter('vanilla', checkpoint=str(tiny_clip_path), device='cpu', cfg_options=FAST)
    with pytest.raises(SegmenterError, match='no classes yet'):
        seg(_photo())
    seg.set_classes(['cat', 'dog'])
    assert seg(_photo()).class_names == ['cat', 'dog']


# ------------------------------------------------------------------------------------------- images
def _save(tmp_path, name, picture: Image.Image):
    path = tmp_path / name
    picture.save(path)
    return path


def test_rgb_inputs_agree_across_path_pil_and_array(tmp_path):
    rgb = _photo()
    path = _save(tmp_path, 'rgb.png', Image.fromarray(rgb))
    for source in (path, str(path), Image.fromarray(rgb), rgb):
        out = load_image(source)
        assert out.dtype == np.uint8 and out.flags.c_contiguous
        np.testing.assert_array_equal(out, rgb)


def test_grayscale_rgba_palette_and_16_bit_inputs(tmp_path):
    rgb = _photo()
    gray = rgb[..., 1]
    as_rgb = np.repeat(gray[..., None], 3, axis=2)
    for source in (gray, gray[..., None], Image.fromarray(gray), _save(tmp_path, 'gray.png', Image.fromarray(gray))):
        np.testing.assert_array_equal(load_image(source), as_rgb)

    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])  # alpha is dropped, not composited
    for source in (rgba, Image.fromarray(rgba), _save(tmp_path, 'rgba.png', Image.fromarray(rgba))):
        np.testing.assert_array_equal(load_image(source), rgb)

    palette = Image.fromarray(rgb).quantize(colors=16)
    expected = np.asarray(palette.convert('RGB'))
    for source in (palette, _save(tmp_path, 'palette.png', palette)):
        assert Image.open(tmp_path / 'palette.png').mode == 'P'
        np.testing.assert_array_equal(load_image(source), expected)

    deep = (rgb.astype(np.uint16) << 8) | 0xAB  # 16 bits per channel; the high byte is the 8-bit picture
    import cv2
    cv2.imwrite(str(tmp_path / 'deep.png'), deep[..., ::-1])
    np.testing.assert_array_equal(load_image(deep), rgb)
    np.testing.assert_array_equal(load_image(tmp_path / 'deep.png'), rgb)  # the same as OpenCV's 16 -> 8 bits
    deep_gray = Image.fromarray(deep[..., 0])
    assert deep_gray.mode.startswith('I')
    np.testing.assert_array_equal(load_image(deep_gray), np.repeat(rgb[..., :1], 3, axis=2))
    np.testing.assert_array_equal(load_image(_save(tmp_path, 'gray16.png', deep_gray)),
                                  np.repeat(rgb[..., :1], 3, axis=2))

    np.testing.assert_array_equal(load_image(rgb / 255.0), rgb)  # floats in [0, 1]
    np.testing.assert_array_equal(load_image(rgb > 127)[..., 0], (rgb[..., 0] > 127) * 255)


@pytest.mark.parametrize('bad,match', [
    (np.zeros((3, 8, 8), np.uint8), 'channels first'),
    (np.zeros((8, 8, 5), np.uint8), r'got shape \(8, 8, 5\)'),
    (np.full((8, 8), 2.0), r'float images must hold values in \[0, 1\]'),
    (np.full((8, 8), -3, np.int32), 'unsupported pixel type int32'),
    ([[0, 1]], 'file path, a PIL image or a numpy array, not list'),
])
def test_bad_images_are_refused_clearly(bad, match):
    with pytest.raises(SegmenterError, match=match):
        load_image(bad)


def test_missing_and_undecodable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.png'):
        load_image(tmp_path / 'nope.png')
    (tmp_path / 'text.png').write_text('not an image')
    with pytest.raises(SegmenterError, match='could not decode'):
        load_image(tmp_path / 'text.png')


def test_segmentation_is_the_same_for_every_input_kind(fast_segmenter, tmp_path):
    rgb = _photo(seed=2)
    ref = fast_segmenter(rgb, CLASSES)
    deep = rgb.astype(np.uint16) * 257
    for source in (Image.fromarray(rgb), _save(tmp_path, 'x.png', Image.fromarray(rgb)), deep,
                   np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])):
        got = fast_segmenter(source)
        np.testing.assert_array_equal(got.labels, ref.labels)
        np.testing.assert_array_equal(got.image, rgb)


def test_bundled_example_is_shipped():
    assert EXAMPLE_IMAGE.is_file() and EXAMPLE_IMAGE.stat().st_size < 200_000
    assert load_image(EXAMPLE_IMAGE).shape == (400, 600, 3)
    assert [names[0] for names in parse_classes(EXAMPLE_CLASSES)] == ['coffee', 'cup', 'saucer', 'spoon',
                                                                      'wooden table']
    assert (EXAMPLE_IMAGE.parent / 'README.md').read_text().count('CC0') >= 1


# ------------------------------------------------------------------------------------------- progress, ProxyCLIP
def test_progress_reports_weights_text_and_crops(tiny_clip_path, capsys):
    seg = Segmenter('sclip', checkpoint=str(tiny_clip_path), device='cpu', progress=True,
                    cfg_options={'model.text_encoder.templates': ['a photo of a {}.']})
    seg(_photo(60, 90), 'a; b')
    err = capsys.readouterr().err
    assert 'loading sclip' in err and 'text embeddings: 2 classes, 2 names x 1 prompts' in err
    assert '8/8' in err  # 60x90 -> 336x504 input: 2 x 4 windows of 224 at stride 112


def test_proxyclip_with_a_vfm_checkpoint(tiny_clip_path):
    vfm = parity_fixture('mini_vfm_dino_vitt8.pt')
    seg = Segmenter('proxyclip', checkpoint=str(tiny_clip_path), vfm_checkpoint=str(vfm), device='cpu',
                    cfg_options={'model.data_preprocessor.short_side': 112,
                                 'model.text_encoder.templates': ['a photo of a {}.']})
    result = seg(_photo(56, 84), CLASSES)
    assert result.labels.shape == (56, 84) and result.scores.shape == (3, 56, 84)
    assert seg.model.clip.vfm is not None


def test_truncated_image_file_is_refused_with_its_name(tmp_path):
    from sclip_toolkit.apis import load_image
    path = tmp_path / 'half.jpg'
    Image.fromarray(np.random.RandomState(0).randint(0, 255, (40, 50, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(SegmenterError, match=r'could not decode image .*half\.jpg: the JPEG file is truncated'):
        load_image(path)


def test_sam_options_set_trident_and_refuse_other_methods():
    """sam_checkpoint points every SAM part at the file; sam_refine adds Trident's refinement step (the method base has
    none) on the same weights; methods without SAM refuse both in the API's words."""
    from sclip_toolkit.apis import SegmenterError, method_config, uses_sam

    cfg = method_config('trident', sam_checkpoint='/w/sam.pth', sam_refine=True, download=False)
    assert cfg.model.inference.affinity.checkpoint == '/w/sam.pth' and uses_sam(cfg)
    step = cfg.model.post_process[-1]
    assert (step.type, step.checkpoint, step.enabled, step.model_type) == ('SAMRefinement', '/w/sam.pth', True, 'vit_b')
    assert not method_config('trident', download=False).model.post_process  # off unless asked
    with pytest.raises(SegmenterError, match='sam_checkpoint was given but sclip uses no SAM'):
        method_config('sclip', sam_checkpoint='/w/sam.pth')
