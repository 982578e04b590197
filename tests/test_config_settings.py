"""Every shipped config resolves to the same effective settings as before the segmentor was split into parts.

tests/data/resolved_model_configs_v1.json holds ``cfg.model`` of every config as resolved before the change (flat
keys such as ``prob_thd``, ``test_cfg``, ``class_names``). Both sides are mapped to one flat view with the
constructors' defaults filled in, so a key that only moved between parts compares equal, and a changed value does
not.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[1]
BEFORE = json.loads((ROOT / 'tests' / 'data' / 'resolved_model_configs_v1.json').read_text())

# The flat segmentor's defaults before the change.
OLD_DEFAULTS = dict(separator=', ', templates='openai_imagenet_80', allow_duplicate_names=False, logit_scale=40.0,
                    prob_thd=0.0, area_thd=None, pamr_steps=0, pamr_dilations=[8, 16], pamr_chunk=None,
                    renormalize=False, accumulate_dtype='fp32', score_dtype='fp32', keep_scores=None,
                    max_score_bytes=1 << 28, text_cache=True)
OLD_TEST_CFG = dict(mode='slide', crop_size=224, stride=112, pad_multiple=None, batch_size=16, whole_resize='direct')


def _pair(v):
    return list(v) if isinstance(v, (list, tuple)) else [v, v]


def _inference_view(mode, crop_size, stride, pad_multiple, batch_size, whole_resize, accumulate_dtype):
    """What decides the windows: slide settings only in slide mode, the resize only in whole mode."""
    if mode == 'whole':
        return dict(mode='whole', batch_size=batch_size, whole_resize=whole_resize)
    return dict(mode='slide', crop_size=_pair(crop_size), stride=_pair(stride), pad_multiple=pad_multiple,
                batch_size=batch_size, accumulate_dtype=accumulate_dtype)


def view_before(model: dict) -> dict:
    m = {**OLD_DEFAULTS, **model}
    t = {**OLD_TEST_CFG, **model.get('test_cfg', {})}
    return dict(
        clip=m['clip'], data_preprocessor=m.get('data_preprocessor'), class_names=m['class_names'],
        separator=m['separator'], templates=m['templates'], allow_duplicate_names=m['allow_duplicate_names'],
        text_cache=m['text_cache'],
        inference=_inference_view(t['mode'], t['crop_size'], t['stride'], t['pad_multiple'], t['batch_size'],
                                  t['whole_resize'], m['accumulate_dtype']),
        logit_scale=float(m['logit_scale']), score_dtype=m['score_dtype'], keep_scores=m['keep_scores'],
        max_score_bytes=m['max_score_bytes'],
        steps=[s for s in (
            dict(type='PAMR', steps=m['pamr_steps'], dilations=list(m['pamr_dilations']), chunk=m['pamr_chunk'])
            if m['pamr_steps'] > 0 else None,
            dict(type='AreaThreshold', threshold=m['area_thd']) if m['area_thd'] is not None else None,
            dict(type='ProbThreshold', threshold=m['prob_thd']) if m['prob_thd'] > 0 else None,
            dict(type='Renormalize') if m['renormalize'] else None) if s is not None])


def view_after(model: dict) -> dict:
    text = model['text_encoder']
    inf = model['inference']
    whole = inf['type'] == 'WholeInference'
    steps = []
    for step in model.get('post_process', []):
        step = dict(step)
        if step['type'] == 'PAMR':
            step = dict(type='PAMR', steps=step.get('steps', 10), dilations=list(step.get('dilations', (8, 16))),
                        chunk=step.get('chunk'))
        steps.append(step)
    return dict(
        clip=model['clip'], data_preprocessor=model.get('data_preprocessor'), class_names=text['class_names'],
        separator=text.get('separator', ', '), templates=text.get('templates', 'openai_imagenet_80'),
        allow_duplicate_names=text.get('allow_duplicate_names', False), text_cache=text.get('cache', True),
        inference=_inference_view('whole' if whole else 'slide', inf.get('crop_size', 224), inf.get('stride', 112),
                                  inf.get('pad_multiple'), inf.get('batch_size', 16), inf.get('resize', 'direct'),
                                  inf.get('accumulate_dtype', 'fp32')),
        logit_scale=float(model.get('logit_scale', 40.0)), score_dtype=model.get('score_dtype', 'fp32'),
        keep_scores=model.get('keep_scores'), max_score_bytes=model.get('max_score_bytes', 1 << 28), steps=steps)


def _json(x):
    return json.loads(json.dumps(x, default=list))


def test_every_config_is_accounted_for():
    current = {str(p.relative_to(ROOT / 'configs').with_suffix('')) for p in (ROOT / 'configs').glob('*/*.py')
               if p.parts[-2] != '_base_'}
    assert set(BEFORE) <= current, sorted(set(BEFORE) - current)


@pytest.mark.parametrize('name', sorted(BEFORE))
def test_config_resolves_to_the_same_settings(name):
    cfg = Config.fromfile(str(ROOT / 'configs' / f'{name}.py'), import_custom_modules=False)
    before, after = view_before(BEFORE[name]), view_after(_json(cfg.model.to_dict()))
    for key in before:
        assert _json(after[key]) == _json(before[key]), f'{name}: {key}'


def test_views_see_a_changed_value():
    """The comparison is not vacuous: one changed threshold or window setting is a difference."""
    name = 'sclip/sclip_voc21'
    cfg = Config.fromfile(str(ROOT / 'configs' / f'{name}.py'), import_custom_modules=False)
    model = _json(cfg.model.to_dict())
    model['post_process'][1]['threshold'] = 0.2
    assert view_after(model)['steps'] != view_before(BEFORE[name])['steps']
    model = _json(cfg.model.to_dict())
    model['inference']['stride'] = 100
    assert view_after(model)['inference'] != view_before(BEFORE[name])['inference']


def flat(model) -> dict:
    """The former flat settings of a (new) model config, for spot checks: prob_thd, area_thd, pamr_steps, mode,
    crop_size, stride, pad_multiple, separator, class_names, logit_scale."""
    view = view_after(_json(model.to_dict() if hasattr(model, 'to_dict') else model))
    steps = {s['type']: s for s in view['steps']}
    inf = view['inference']
    return dict(logit_scale=view['logit_scale'], separator=view['separator'], class_names=view['class_names'],
                prob_thd=steps.get('ProbThreshold', {}).get('threshold', 0.0),
                area_thd=steps.get('AreaThreshold', {}).get('threshold'),
                pamr_steps=steps.get('PAMR', {}).get('steps', 0), mode=inf['mode'],
                crop_size=inf.get('crop_size', [None])[0], stride=inf.get('stride', [None])[0],
                pad_multiple=inf.get('pad_multiple'))
