"""The registered segmentor: inference modes, streaming labels, batching, and parity with the references."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from mmseg.registry import MODELS

from sclip_toolkit.apis import available_methods, build_segmentor, run_segmentor
from sclip_toolkit.config import load_config
from sclip_toolkit.models.attention import build_attention
from sclip_toolkit.testing import PRESETS

from ..conftest import assert_parity

CLASSES = [['sky', 'cloud'], ['tree'], ['person', 'man', 'woman'], ['road'], ['car', 'truck']]
# naclip_voc21.py's steps without PAMR (the reference's `eval.py --pamr off`)
NACLIP_VOC21_NO_PAMR = [dict(type='ProbThreshold', threshold=0.1), dict(type='Renormalize')]


def _steps(prob_thd=0.0, area_thd=None, pamr_steps=0, pamr_dilations=(8, 16)):
    """The post_process list of the former flat settings (the order every method base uses)."""
    steps = [dict(type='PAMR', steps=pamr_steps, dilations=pamr_dilations)] if pamr_steps else []
    steps += [dict(type='AreaThreshold', threshold=area_thd)] if area_thd is not None else []
    return steps + ([dict(type='ProbThreshold', threshold=prob_thd)] if prob_thd else [])


def _segmentor(tiny_clip_path, **kw):
    test_cfg = dict(kw.pop('test_cfg', dict(crop_size=64, stride=32)))
    if test_cfg.pop('mode', 'slide') == 'whole':
        inference = dict(type='WholeInference', resize=test_cfg.pop('whole_resize', 'direct'))
    else:
        inference = dict(type='SlideInference', **test_cfg)
    steps = _steps(**{k: kw.pop(k) for k in ('prob_thd', 'area_thd', 'pamr_steps', 'pamr_dilations') if k in kw})
    cfg = dict(type='OVSegmentor', clip=dict(type='CLIPBackbone', checkpoint=str(tiny_clip_path),
                                             final_attn=kw.pop('attn', 'sclip')),
               text_encoder=dict(type='CLIPTextClassifier', class_names=CLASSES,
                                 templates=['a photo of a {}.', 'a {} in the scene.'],
                                 cache=kw.pop('text_cache', True)),
               inference=inference, post_process=steps, logit_scale=40, **kw)
    return MODELS.build(cfg).eval()


def _image(h, w, seed=0):
    torch.manual_seed(seed)
    return torch.randn(1, 3, h, w)


def test_predict_fills_sample_at_original_size(tiny_clip_path):
    model = _segmentor(tiny_clip_path)
    out = model.predict(_image(80, 112))
    assert out[0].seg_logits.data.shape == (5, 80, 112)
    assert out[0].pred_sem_seg.data.shape == (1, 80, 112)
    torch.testing.assert_close(out[0].seg_logits.data.sum(0).min() <= 1.0 + 1e-6, torch.tensor(True))


def test_slide_equals_whole_when_the_crop_is_the_image(tiny_clip_path):
    slide = _segmentor(tiny_clip_path, test_cfg=dict(mode='slide', crop_size=(48, 80), stride=(48, 80)))
    whole = _segmentor(tiny_clip_path, test_cfg=dict(mode='whole', whole_resize='via_input'))
    image = _image(48, 80)
    a, b = slide.predict(image)[0], whole.predict(image)[0]
    torch.testing.assert_close(a.seg_logits.data, b.seg_logits.data, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('batch_size', [1, 3, 16])
def test_crop_batch_size_does_not_change_outputs(tiny_clip_path, batch_size):
    image = _image(96, 128, seed=3)
    ref = _segmentor(tiny_clip_path, test_cfg=dict(crop_size=64, stride=32, batch_size=1)).predict(image)[0]
    got = _segmentor(tiny_clip_path, test_cfg=dict(crop_size=64, stride=32, batch_size=batch_size)).predict(image)[0]
    torch.testing.assert_close(got.seg_logits.data, ref.seg_logits.data, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('extra', [dict(), dict(prob_thd=0.22), dict(area_thd=0.3, prob_thd=0.21),
                                   dict(pamr_steps=2, pamr_dilations=(1, 2))])
def test_streaming_labels_equal_full_scores(tiny_clip_path, extra):
    image = _image(72, 104, seed=5)
    full = _segmentor(tiny_clip_path, keep_scores=True, **extra).predict(image)[0]
    # a budget of 3 names' scores forces 3 chunks over the 9 names
    lean = _segmentor(tiny_clip_path, keep_scores=False, max_score_bytes=3 * 16 * 72 * 104, **extra).predict(image)[0]
    assert 'seg_logits' not in lean
    agree = (full.pred_sem_seg.data == lean.pred_sem_seg.data).float().mean().item()
    assert agree > 0.999, agree


def test_padding_to_a_multiple_cuts_back(tiny_clip_path):
    model = _segmentor(tiny_clip_path, test_cfg=dict(crop_size=40, stride=20, pad_multiple='patch'))
    out = model.predict(_image(50, 70))[0]
    assert out.seg_logits.data.shape == (5, 50, 70) and torch.isfinite(out.seg_logits.data).all()


def test_invalid_inference_settings(tiny_clip_path):
    with pytest.raises(ValueError, match='stride <= crop_size'):
        _segmentor(tiny_clip_path, test_cfg=dict(crop_size=32, stride=64))
    with pytest.raises(ValueError, match="'direct' or 'via_input'"):
        _segmentor(tiny_clip_path, test_cfg=dict(mode='whole', whole_resize='stretch'))
    with pytest.raises(NotImplementedError, match='training-free'):
        _segmentor(tiny_clip_path).loss(None, None)


def test_images_of_different_sizes_in_one_batch(tiny_clip_path, tmp_path):
    import cv2
    cfg = load_config('configs/sclip/sclip_voc21.py', checkpoint=str(tiny_clip_path),
                      cfg_options={'model.data_preprocessor.short_side': 64})
    model = build_segmentor(cfg, 'cpu')
    rng = np.random.RandomState(0)
    paths = []
    for i, (h, w) in enumerate([(60, 90), (90, 60)]):
        paths.append(str(tmp_path / f'{i}.png'))
        cv2.imwrite(paths[-1], rng.randint(0, 255, (h, w, 3), dtype=np.uint8))
    single = run_segmentor(model, cfg, paths)
    from sclip_toolkit.apis.pipeline import prepare_inputs
    batch = model.data_preprocessor({'inputs': [prepare_inputs(cfg, p)['inputs'] for p in paths],
                                     'data_samples': [prepare_inputs(cfg, p)['data_samples'] for p in paths]})
    both = model.predict(batch['inputs'], batch['data_samples'])
    for a, b in zip(single, both):
        assert a.pred_sem_seg.data.shape == b.pred_sem_seg.data.shape
        torch.testing.assert_close(a.seg_logits.data, b.seg_logits.data)


@pytest.mark.parametrize('tag, config, options', [
    ('sclip', 'configs/sclip/sclip_voc21.py', {}),
    ('naclip', 'configs/naclip/naclip_voc21.py', {}),
    ('naclip_nopamr', 'configs/naclip/naclip_voc21.py', {'model.post_process': NACLIP_VOC21_NO_PAMR}),
    ('clearclip', 'configs/clearclip/clearclip_voc21.py', {}),
    ('clearclip_shippedcfg', 'configs/clearclip/clearclip_voc21.py', {'model.clip.final_attn.qk': 'qk'}),
])
def test_parity_with_reference_outputs(tag, config, options):
    assert_parity(tag, config, cfg_options=options)


@pytest.mark.parametrize('mode', ['slide', 'whole'])
@pytest.mark.parametrize('shape', [(5, 9), (12, 300), (300, 7)])
def test_images_smaller_than_a_patch_or_crop(tiny_clip_path, mode, shape):
    model = _segmentor(tiny_clip_path, test_cfg=dict(mode=mode, crop_size=64, stride=32))
    out = model.predict(_image(*shape))[0]
    assert out.pred_sem_seg.data.shape == (1, *shape)
    assert torch.isfinite(out.seg_logits.data).all()


def test_very_large_image_runs_in_bounded_memory(tiny_clip_path, tmp_path):
    """A 6000x4000 photo: full-resolution scores of 12 names need > 4 GB with temporaries; streaming stays below 2 GB."""
    import cv2
    from sclip_toolkit.bench.profiling import peak_memory
    path = tmp_path / 'big.jpg'
    big = np.random.RandomState(0).randint(0, 255, (4000, 6000, 3), dtype=np.uint8)
    cv2.imwrite(str(path), cv2.resize(big[::8, ::8], (6000, 4000)))  # smooth content compresses fast
    del big
    cfg = load_config('configs/sclip/sclip_voc21.py', checkpoint=str(tiny_clip_path),
                      cfg_options={'model.data_preprocessor.short_side': 64})
    cfg.model.text_encoder.class_names = [['sky'], ['tree', 'bush'], ['person', 'man', 'woman'], ['road'],
                                          ['car', 'truck'], ['building'], ['grass']]
    model = build_segmentor(cfg, 'cpu')
    mem = {}
    with peak_memory(torch.device('cpu'), mem):
        sample = run_segmentor(model, cfg, [path])[0]
    assert sample.pred_sem_seg.data.shape == (1, 4000, 6000)
    assert 'seg_logits' not in sample  # 12 x 4000 x 6000 floats are not kept
    assert mem['peak'] < 2 * 2 ** 30, mem  # ~65 bytes per output pixel, whatever the vocabulary; full scores > 4 GB


@pytest.mark.parametrize('attn', ['sclip', 'naclip', 'clearclip', 'scclip'])
def test_half_precision_flow(tiny_clip_path, attn):
    """precision='fp16' (the CUDA default) runs the encoders in fp16; score_dtype decides the softmax's dtype."""
    image = _image(80, 100, seed=7)
    common = dict(attn=attn, pamr_steps=1, pamr_dilations=(1, 2), text_cache=False)
    half = _segmentor(tiny_clip_path, score_dtype='model', **common)
    half.clip.precision = 'fp16'
    out = half.predict(image)[0]
    assert half.clip.visual.conv1.weight.dtype == torch.float16
    assert half.clip.visual.ln_post.weight.dtype == torch.float32  # LayerNorms stay fp32, as in OpenAI's models
    assert out.seg_logits.data.dtype == torch.float16 and torch.isfinite(out.seg_logits.data.float()).all()
    full = _segmentor(tiny_clip_path, **common).predict(image)[0]
    assert full.seg_logits.data.dtype == torch.float32
    assert (out.seg_logits.data.float() - full.seg_logits.data).abs().max() < 0.1


@pytest.mark.parametrize('method', available_methods())
@pytest.mark.parametrize('picture', ['uniform', 'two_colours'])
def test_every_method_gives_finite_scores_on_flat_images(tiny_clip_path, tmp_path, method, picture):
    """A wall or a sky: a uniform grey image and a two-colour one. ProxyCLIP's reference gives NaN there (every
    affinity of a token below beta * mean); every method here must give finite scores."""
    from sclip_toolkit import Segmenter
    from sclip_toolkit.apis import method_config
    from sclip_toolkit.testing import write_random_vfm
    image = np.full((240, 320, 3), 128, np.uint8)
    if picture == 'two_colours':
        image[:, 160:] = (30, 200, 90)
    vfm = None
    base = method_config(method).model
    if base.clip.get('vfm') is not None:
        vfm = str(write_random_vfm(tmp_path / 'dino.pth', 'dino'))
    options = {'model.data_preprocessor.short_side': 64, 'model.text_encoder.templates': ['a photo of a {}.']}
    attn = method_config(method).model.clip.final_attn  # settings it needs on the tiny tower (RF-CLIP's channels)
    tiny = PRESETS['tiny']
    for key, value in build_attention(attn).settings_for(tiny['vision_width'], tiny['vision_layers']).items():
        options[f'model.clip.final_attn.{key}'] = value
    if base.get('region_generator') is not None:  # regions without mask weights
        options['model.region_generator'] = dict(type='GridRegions', cell=40)
    if base.inference.get('affinity', {}).get('type') == 'SAMAffinity':  # Trident: a tiny SAM, not the weights
        from .test_trident import tiny_sam
        options['model.inference.affinity.model'] = tiny_sam()
    seg = Segmenter(method, checkpoint=str(tiny_clip_path), vfm_checkpoint=vfm, device='cpu', cfg_options=options)
    result = seg(image, 'wall; sky; grass')
    assert np.isfinite(result.scores).all()
    np.testing.assert_allclose(result.scores.max(0) <= 1 + 1e-6, True)


def test_non_finite_scores_name_the_method_and_image(tiny_clip_path):
    """The reference's NaN (guard off) is caught by the segmentor, which names the variant and the image."""
    model = _segmentor(tiny_clip_path, attn=dict(type='ProxyAttention', guard_empty_rows=False, fallback=None))
    model.clip.final_attn.forward = lambda block, x, ctx: (torch.full_like(x[:, 1:], float('nan')), ctx.grid)
    with pytest.raises(FloatingPointError, match='ProxyAttention gave NaN or inf scores') as err:
        model.predict(_image(32, 32))
    assert 'while segmenting image 0 of the batch' in err.value.__notes__
