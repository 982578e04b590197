"""What a run records so that it can be reproduced: every setting it used, and the equivalent ``demo.py`` command."""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .model_cache import weight_options
from .settings import SETTINGS, method_defaults

_INTEGER = ('pamr_steps', 'crop_size', 'stride')


def settings_used(method: str, settings: Dict[str, Any], cfg_options: Dict[str, Any], options) -> Dict[str, Any]:
    """Every advanced setting ``method`` ran with (its own value where the page left the field empty; None where it
    does not apply), the names of those the page changed, and the image scale limit."""
    defaults = method_defaults(method, options.backbone)
    used = dict(defaults)
    for key, value in settings.items():
        text = value.strip() if isinstance(value, str) else value
        if key in SETTINGS and text not in (None, ''):
            used[key] = int(float(text)) if key in _INTEGER else float(text)
    used['changed'] = [k for k in SETTINGS if used[k] != defaults[k]]
    used['max_side'] = options.max_side
    used['config_overrides'] = {**(options.cfg_options or {}), **cfg_options}
    return used


def _value(value: Any) -> str:
    """A config value in ``--cfg-options`` syntax (lists of part configs as dict(...))."""
    if isinstance(value, dict):
        return 'dict(' + ', '.join(f'{k}={_value(v)}' for k, v in value.items()) + ')'
    if isinstance(value, list):
        return '[' + ', '.join(_value(v) for v in value) + ']'
    if isinstance(value, tuple):
        return '(' + ', '.join(_value(v) for v in value) + (',)' if len(value) == 1 else ')')
    return repr(value) if isinstance(value, str) else str(value)


def demo_command(image: str, classes: List[List[str]], class_file: Optional[str], methods: Sequence[str],
                 cfg_options: Dict[str, Any], options) -> str:
    """The ``demo.py`` command line that segments ``image`` as this run did (same methods, classes, weights,
    settings and image scale)."""
    args = ['python', 'demo.py', '--image', Path(image).name]
    if class_file:
        args += ['--class-file', Path(class_file).name]
    else:
        args += ['--classes', '; '.join(', '.join(names) for names in classes)]
    args += ['--compare', ','.join(methods)] if len(methods) > 1 else ['--method', methods[0]]
    if options.backbone:
        args += ['--backbone', options.backbone]
    if options.checkpoint:
        args += ['--checkpoint', options.checkpoint if options.show_paths else Path(options.checkpoint).name]
    if options.pretrained:
        args += ['--pretrained', options.pretrained]
    taken = {key for m in methods for key in weight_options(m, options)}  # the demo refuses an option none takes
    for flag, key in (('--vfm-checkpoint', 'vfm_checkpoint'), ('--sam-checkpoint', 'sam_checkpoint')):
        if key in taken:
            args += [flag, getattr(options, key) if options.show_paths else Path(getattr(options, key)).name]
    if 'sam_refine' in taken and options.sam_refine:
        args += ['--sam-refine']
    args += ['--max-side', str(options.max_side)]
    merged = {**(options.cfg_options or {}), **cfg_options}
    if merged:
        args += ['--cfg-options', *(f'{k}={_value(v)}' for k, v in merged.items())]
    return ' '.join(shlex.quote(a) for a in args)
