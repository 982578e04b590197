"""The web page's advanced settings and how they become config overrides.

The page offers five settings; an empty field means "the method's own default". Everything the page knows about
where these settings live in a config is in :func:`method_defaults` and :func:`settings_to_cfg_options`, so a
change of config layout is adapted here and nowhere else.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional

# Page field -> (label, help). Order is the page's order.
SETTINGS: Dict[str, tuple] = {
    'logit_scale': ('Logit scale', 'temperature of the softmax over classes'),
    'prob_thd': ('Probability threshold', 'pixels whose best score is lower go to the first class'),
    'pamr_steps': ('PAMR steps', 'refinement iterations (0: off)'),
    'crop_size': ('Slide crop', 'window side in pixels of the resized image'),
    'stride': ('Slide stride', 'step between windows, at most the crop'),
}


class SettingsError(ValueError):
    """An advanced setting out of range; the message names the setting and what is allowed."""


def _side(value: Any) -> Optional[int]:
    """A crop or stride from a config (int or (h, w)) as one int when square, else None (not editable here)."""
    if isinstance(value, (tuple, list)):
        return int(value[0]) if len(set(value)) == 1 else None
    return None if value is None else int(value)


def method_defaults(method: str, backbone: Optional[str] = None) -> Dict[str, Any]:
    """The method's own value of every setting (None where it does not apply, e.g. no sliding window)."""
    from ..apis import method_config
    from ..config.check import constructor_default as default
    from ..models.segmentor import DEFAULT_INFERENCE

    model = method_config(method, backbone, download=False).model
    inference = model.get('inference') or DEFAULT_INFERENCE
    slide = inference.get('type', DEFAULT_INFERENCE['type']) == 'SlideInference'
    steps = {step['type']: step for step in model.get('post_process', [])}
    # A config that leaves a setting out gets the part's default (the constructors' signatures).
    return dict(logit_scale=float(model.get('logit_scale', default('OVSegmentor', 'logit_scale'))),
                prob_thd=float(steps.get('ProbThreshold', {}).get('threshold', 0.0)),
                pamr_steps=int(steps['PAMR'].get('steps', default('PAMR', 'steps')) if 'PAMR' in steps else 0),
                crop_size=_side(inference.get('crop_size', default('SlideInference', 'crop_size'))) if slide else None,
                stride=_side(inference.get('stride', default('SlideInference', 'stride'))) if slide else None)


def _steps_with(steps: list, prob_thd: Optional[float], pamr_steps: Optional[int]) -> list:
    """The method's post_process list with the page's threshold and PAMR steps (0 leaves the step out)."""
    steps = [dict(s) for s in steps]
    if pamr_steps is not None:
        pamr = next((s for s in steps if s['type'] == 'PAMR'), None)
        if pamr_steps == 0:
            steps = [s for s in steps if s['type'] != 'PAMR']
        elif pamr is not None:
            pamr['steps'] = pamr_steps
        else:  # logits-stage steps come first
            from ..config.check import constructor_default
            steps.insert(0, dict(type='PAMR', steps=pamr_steps, dilations=constructor_default('PAMR', 'dilations')))
    if prob_thd is not None:
        prob = next((s for s in steps if s['type'] == 'ProbThreshold'), None)
        if prob_thd == 0:
            steps = [s for s in steps if s['type'] != 'ProbThreshold']
        elif prob is not None:
            prob['threshold'] = prob_thd
        else:  # before Renormalize, which changes the scores a threshold reads
            at = next((i for i, s in enumerate(steps) if s['type'] == 'Renormalize'), len(steps))
            steps.insert(at, dict(type='ProbThreshold', threshold=prob_thd))
    return steps


def _number(name: str, value: Any, integer: bool, low: float, high: float, high_open: bool = False) -> float:
    label = SETTINGS[name][0]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f'{label}: {value!r} is not a number') from None
    if not math.isfinite(number) or number < low or number > high or (high_open and number >= high):
        bound = f'below {high:g}' if high_open else f'at most {high:g}'
        raise SettingsError(f'{label}: {number:g} is out of range; use a value from {low:g} to {bound}')
    if integer:
        if number != int(number):
            raise SettingsError(f'{label}: {number:g} must be a whole number')
        return int(number)
    return number


def settings_to_cfg_options(method: str, settings: Mapping[str, Any], backbone: Optional[str] = None
                            ) -> Dict[str, Any]:
    """Dotted ``cfg_options`` for the settings that differ from ``method``'s defaults (empty: the default model).

    Args:
        method: a name from :func:`sclip_toolkit.apis.available_methods`.
        settings: field name (see :data:`SETTINGS`) -> value, None or '' for the method's default.
        backbone: as for :class:`~sclip_toolkit.apis.Segmenter` (some methods' defaults depend on it).

    Raises:
        SettingsError: an unknown field, or a value out of range (one line naming the setting).
    """
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise SettingsError(f'unknown setting {unknown[0]!r}; valid: {", ".join(SETTINGS)}')
    given = {k: v.strip() if isinstance(v, str) else v for k, v in settings.items()}
    given = {k: v for k, v in given.items() if v is not None and v != ''}
    defaults = method_defaults(method, backbone)
    checked = {}
    if 'logit_scale' in given:
        checked['logit_scale'] = _number('logit_scale', given['logit_scale'], False, 1e-3, 1e4)
    if 'prob_thd' in given:
        checked['prob_thd'] = _number('prob_thd', given['prob_thd'], False, 0.0, 1.0, high_open=True)
    if 'pamr_steps' in given:
        checked['pamr_steps'] = _number('pamr_steps', given['pamr_steps'], True, 0, 100)
    for name in ('crop_size', 'stride'):
        if name in given:
            if defaults[name] is None:
                raise SettingsError(f'{SETTINGS[name][0]}: {method} does not segment with a sliding window of '
                                    f'square crops; leave it empty')
            checked[name] = _number(name, given[name], True, 8, 4096)
    crop = checked.get('crop_size', defaults['crop_size'])
    stride = checked.get('stride', defaults['stride'])
    if crop is not None and stride > crop:
        whose = '' if 'stride' in checked else f" ({method}'s default)"
        raise SettingsError(f'Slide stride: {stride}{whose} is larger than the crop {crop}, which would leave '
                            f'pixels unseen; use a stride of at most {crop}')
    changed = {k: v for k, v in checked.items() if v != defaults[k]}
    # Where each setting lives in the model config: thresholds and PAMR are entries of the post_process list.
    keys = dict(logit_scale='model.logit_scale', crop_size='model.inference.crop_size',
                stride='model.inference.stride')
    options = {keys[k]: v for k, v in changed.items() if k in keys}
    if 'prob_thd' in changed or 'pamr_steps' in changed:
        from ..apis import method_config
        steps = method_config(method, backbone, download=False).model.get('post_process', [])
        options['model.post_process'] = _steps_with(steps, changed.get('prob_thd'), changed.get('pamr_steps'))
    return options
