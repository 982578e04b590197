"""The generic model-config check: every typed dict under cfg.model against its registered constructor."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import pytest
from mmengine.registry import Registry
from mmseg.registry import MODELS

from sclip_toolkit.config import load_config, resolve_config_path
from sclip_toolkit.config.check import ConfigError, check_model_config, constructor_parameters
from sclip_toolkit.config.overrides import parse_cfg_option, parse_cfg_options


@pytest.mark.parametrize('options, message', [
    ({'model.logit_scalee': 0.2}, "model.logit_scalee: unknown key of OVSegmentor (did you mean 'logit_scale'?); "
                                  "valid keys of model: "),
    ({'model.logit_scale': 'banana'}, "model.logit_scale: expected a number, got 'banana'"),
    ({'model.post_process': [dict(type='ProbThreshold', thresh=0.2)]},
     "model.post_process[0].thresh: unknown key of ProbThreshold (did you mean 'threshold'?)"),
    ({'model.inference.strid': 3}, "model.inference.strid: unknown key of SlideInference (did you mean 'stride'?)"),
    ({'model.data_preprocessor.short_sid': 3}, "model.data_preprocessor.short_sid: unknown key of "
                                               "OVSDataPreProcessor (did you mean 'short_side'?)"),
    ({'model.data_preprocessor.short_side': 'big'}, "model.data_preprocessor.short_side: expected an integer or "
                                                    "None, got 'big'"),
    ({'model.clip.final_attn.type': 'SCLIPAtention'}, "model.clip.final_attn.type: 'SCLIPAtention' is not registered "
                                                      "in mmseg's MODELS (did you mean 'SCLIPAttention'?)"),
    ({'model.clip.final_attn.keep_ffn': 'yes'}, "model.clip.final_attn.keep_ffn: expected True or False or None, got 'yes'"),
    ({'foo.bar': 1}, "--cfg-options foo.bar: the config has no top-level key 'foo'; it has: "),
])
def test_bad_overrides_name_the_key_and_what_is_valid(options, message):
    with pytest.raises(ConfigError) as err:
        load_config('sclip_voc21', cfg_options=options)
    text = str(err.value)
    assert message in text and '\n' not in text


def test_valid_overrides_pass_and_land_in_the_config():
    cfg = load_config('sclip_voc21', cfg_options={'model.logit_scale': 50, 'test_dataloader.num_workers': 0,
                                                  'model.clip.final_attn.type': 'naclip'})  # short names resolve
    assert cfg.model.logit_scale == 50 and cfg.test_dataloader.num_workers == 0


def test_cfg_option_items():
    assert parse_cfg_option('model.inference.stride=(8,16)') == ('model.inference.stride', (8, 16))
    assert parse_cfg_options(['a=1', 'b=x,y', 'a=None']) == {'a': None, 'b': ['x', 'y']}
    steps = "model.post_process=[dict(type='PAMR', steps=5, dilations=(8, 16)), dict(type='Renormalize')]"
    assert parse_cfg_option(steps) == ('model.post_process', [dict(type='PAMR', steps=5, dilations=(8, 16)),
                                                              dict(type='Renormalize')])
    with pytest.raises(ConfigError, match='only numbers, strings'):
        parse_cfg_option("model.post_process=[dict(type=__import__('os').getcwd())]")
    with pytest.raises(ConfigError, match=r"--cfg-options 'model.logit_scale': expected KEY=VALUE"):
        parse_cfg_option('model.logit_scale')
    with pytest.raises(ConfigError, match='unbalanced brackets'):
        parse_cfg_option('model.x=[1,2')


def test_unknown_config_name_suggests_the_closest():
    with pytest.raises(FileNotFoundError) as err:
        resolve_config_path('sclip_voc22')
    text = str(err.value)
    assert 'closest: sclip_voc21' in text and 'eval.py --list' in text
    assert 'naclip_ade20k' not in text  # not all 60 names


# ------------------------------------------------------------------------- generic: parts that do not exist yet
TOYS = Registry('toy models', parent=MODELS, scope='sclip_toy_check')


class ToyBase:
    def __init__(self, init_cfg: Optional[dict] = None):
        self.init_cfg = init_cfg


@TOYS.register_module()
class ToyStep(ToyBase):
    def __init__(self, thd: float = 0.1, sizes: Sequence[int] = (1,), pair: Tuple[int, int] = (1, 1),
                 name: Optional[str] = None, mode: Union[int, str] = 0, **kwargs):
        super().__init__(**kwargs)


@TOYS.register_module()
class ToyWiring:
    def __init__(self, steps: Sequence[dict] = (), inference: Optional[dict] = None, flag: bool = False):
        pass


def _toy(**kwargs) -> dict:
    return dict(type='sclip_toy_check.ToyWiring', **kwargs)


def _step(**kwargs) -> dict:
    return dict(type='sclip_toy_check.ToyStep', **kwargs)


def test_kwargs_follow_the_parents_constructor():
    params, _, open_kwargs = constructor_parameters(ToyStep)
    assert set(params) == {'thd', 'sizes', 'pair', 'name', 'mode', 'init_cfg'} and not open_kwargs


@pytest.mark.parametrize('model, message', [
    (_toy(steps=[_step(thd=0.2), _step(thdd=0.3)]), "model.steps[1].thdd: unknown key of ToyStep (did you mean "
                                                    "'thd'?); valid keys of model.steps[1]: init_cfg, mode, name, "
                                                    "pair, sizes, thd"),
    (_toy(steps=[_step(thd='high')]), "model.steps[0].thd: expected a number, got 'high'"),
    (_toy(inference=_step(sizes=[1, 'x'])), "model.inference.sizes: expected a list of integers, got [1, 'x']"),
    (_toy(inference=_step(pair=(1, 2, 3))), 'model.inference.pair: expected a tuple of 2 (an integer, an integer)'),
    (_toy(inference=_step(mode=1.5)), 'model.inference.mode: expected an integer or a string, got 1.5'),
    (_toy(flag=1), 'model.flag: expected True or False, got 1'),
    (_toy(steps=[dict(type='sclip_toy_check.ToyStap')]), "model.steps[0].type: 'sclip_toy_check.ToyStap' is not "
                                                         "registered"),
])
def test_lists_and_nested_parts_are_checked(model, message):
    with pytest.raises(ConfigError) as err:
        check_model_config(model)
    assert message in str(err.value)


def test_valid_toy_config_passes():
    check_model_config(_toy(steps=[_step(thd=1, sizes=(2, 3), pair=[4, 5], name=None, mode='a', init_cfg={})],
                            inference=_step(), flag=True))
