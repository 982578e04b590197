"""The page's advanced settings: each method's defaults, and the config overrides they turn into."""
from __future__ import annotations

import pytest

from sclip_toolkit.apis import available_methods, method_config
from sclip_toolkit.apps.settings import SETTINGS, SettingsError, method_defaults, settings_to_cfg_options


def _resolved(method, options):
    """The built config's value of every setting: thresholds and PAMR steps read from the post_process list."""
    model = method_config(method, download=False, cfg_options=options).model
    steps = {s['type']: s for s in model.get('post_process', [])}
    out = dict(logit_scale=model.logit_scale, crop_size=model.inference.get('crop_size'),
               stride=model.inference.get('stride'),
               prob_thd=steps['ProbThreshold']['threshold'] if 'ProbThreshold' in steps else 0.0,
               pamr_steps=steps['PAMR']['steps'] if 'PAMR' in steps else 0)
    return out


def test_defaults_are_each_methods_own():
    sclip, proxy = method_defaults('sclip'), method_defaults('proxyclip')
    assert sclip == dict(logit_scale=40.0, prob_thd=0.0, pamr_steps=0, crop_size=224, stride=112)
    assert proxy['crop_size'] == 336 and proxy['stride'] == 112
    for method in available_methods():
        assert set(method_defaults(method)) == set(SETTINGS)


def test_empty_or_default_settings_need_no_override():
    assert settings_to_cfg_options('sclip', {}) == {}
    assert settings_to_cfg_options('sclip', dict(logit_scale=None, prob_thd=' ', pamr_steps=0, crop_size='224')) == {}
    assert settings_to_cfg_options('sclip', dict(logit_scale=' 50 ', pamr_steps='2')) == {
        'model.logit_scale': 50.0, 'model.post_process': [dict(type='PAMR', steps=2, dilations=(8, 16))]}


@pytest.mark.parametrize('field, value', [('logit_scale', 55.5), ('pamr_steps', 3), ('crop_size', 160),
                                          ('stride', 64)])
def test_each_setting_reaches_the_built_config(field, value):
    options = settings_to_cfg_options('naclip', {field: value})
    assert len(options) == 1
    resolved = _resolved('naclip', options)
    assert resolved[field] == value
    assert {k: v for k, v in resolved.items() if k != field} == \
        {k: v for k, v in method_defaults('naclip').items() if k != field}


@pytest.mark.parametrize('method', ['sclip', 'naclip'])
def test_probability_threshold_and_pamr_reach_the_built_config(method):
    options = settings_to_cfg_options(method, dict(prob_thd=0.3, pamr_steps=0))
    assert _resolved(method, options)['prob_thd'] == 0.3 and _resolved(method, options)['pamr_steps'] == 0
    if method == 'naclip':  # the threshold goes before NACLIP's Renormalize, which would change what it reads
        assert [s['type'] for s in options['model.post_process']] == ['ProbThreshold', 'Renormalize']


@pytest.mark.parametrize('settings, words', [
    (dict(logit_scale=-1), 'Logit scale: -1 is out of range'),
    (dict(prob_thd=1.0), 'Probability threshold: 1 is out of range'),
    (dict(pamr_steps=2.5), 'PAMR steps: 2.5 must be a whole number'),
    (dict(crop_size='big'), "Slide crop: 'big' is not a number"),
    (dict(stride=300), "Slide stride: 300 is larger than the crop 224"),
    (dict(crop_size=64), "Slide stride: 112 (sclip's default) is larger than the crop 64"),
    (dict(alpha=1), "unknown setting 'alpha'"),
])
def test_bad_values_are_named(settings, words):
    with pytest.raises(SettingsError, match='^' + words.replace('(', r'\(').replace(')', r'\)')):
        settings_to_cfg_options('sclip', settings)
