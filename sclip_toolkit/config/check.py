"""Checking a model config against the constructors it names, before anything is built or any image is read.

Every dict with a ``type`` under ``cfg.model`` (nested dicts, lists of dicts such as a list of post-processing steps)
is looked up in mmseg's ``MODELS``; its keys are compared with the registered class's constructor parameters and its
values with their annotations. Nothing is hard-coded about the toolkit's classes, so a new part is checked as soon as
it is registered. Ranges (``short_side > 0``) are the constructors' business: they raise ``ValueError`` naming the
parameter when the model is built.
"""
from __future__ import annotations

import collections.abc as cabc
import difflib
import inspect
import types
import typing
from typing import Any, Dict, Iterable, List, Mapping, Tuple

# Keys that configure something outside MODELS (mmengine's weight initialisers) or mmengine's own merge markers.
SKIPPED_KEYS = ('init_cfg',)


from ..exceptions import ConfigError  # noqa: F401  (the error this module raises; re-exported)


def closest(word: str, choices: Iterable[str], n: int = 3) -> List[str]:
    """The choices nearest to ``word`` (difflib ratio >= 0.6), best first."""
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)


def _suggest(word: str, choices: Iterable[str]) -> str:
    near = closest(word, choices, n=1)
    return f" (did you mean {near[0]!r}?)" if near else ''


# ---------------------------------------------------------------------------------------------------- classes
def _registered(name: str, where: str) -> Any:
    """The class (or function) registered under ``name`` in mmseg's MODELS; short attention names also resolve."""
    from mmseg.registry import MODELS

    def lookup(key: str) -> Any:
        try:
            return MODELS.get(key)
        except RuntimeError:  # mmengine's "Failed to get" for a dotted name it cannot import
            return None

    obj = lookup(name)
    if obj is None:
        import sclip_toolkit.models as toolkit_models  # short names ('sclip') of the attention variants
        alias = getattr(toolkit_models, 'ATTENTION_ALIASES', {}).get(name)
        obj = lookup(alias) if alias else None
    if obj is None:
        names = sorted(MODELS.module_dict)
        raise ConfigError(f'{where}: {name!r} is not registered in mmseg\'s MODELS{_suggest(name, names)}')
    return obj


def constructor_parameters(obj: Any) -> Tuple[Dict[str, inspect.Parameter], Dict[str, Any], bool]:
    """Keyword parameters a registered class (or function) accepts, their resolved annotations, and whether it
    accepts any keyword at all.

    A constructor with ``**kwargs`` is taken to pass them on to its parent's (``super().__init__(**kwargs)``), so
    the parameters of the classes after it in the MRO are added until one without ``**kwargs``; ``nn.Module`` and
    ``object`` accept nothing more.
    """
    import torch.nn as nn

    params: Dict[str, inspect.Parameter] = {}
    hints: Dict[str, Any] = {}
    functions = [obj] if not inspect.isclass(obj) else [
        klass.__dict__['__init__'] for klass in obj.__mro__
        if '__init__' in klass.__dict__ and klass not in (object, nn.Module)]
    for func in functions:
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError):  # a builtin without a signature: accept anything
            return params, hints, True
        func_hints = _hints(func)
        open_kwargs = False
        for name, param in signature.parameters.items():
            if param.kind is param.VAR_KEYWORD:
                open_kwargs = True
            elif param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) and name != 'self':
                if name not in params:
                    params[name] = param
                    hints[name] = func_hints.get(name, param.annotation)
        if not open_kwargs:
            return params, hints, False
    # Every constructor in the chain took **kwargs up to nn.Module/object, which accept none.
    return params, hints, not inspect.isclass(obj)


def _hints(func: Any) -> Dict[str, Any]:
    """Annotations evaluated (postponed ones are strings); one that cannot be evaluated stays a string."""
    try:
        return typing.get_type_hints(func)
    except Exception:  # a name only imported for type checking, say: evaluate them one by one
        out = {}
        namespace = getattr(func, '__globals__', {})
        for name, ann in getattr(func, '__annotations__', {}).items():
            try:
                out[name] = eval(ann, namespace) if isinstance(ann, str) else ann  # noqa: S307 (the class's own code)
            except Exception:
                out[name] = ann
        return out


def constructor_default(name: str, key: str) -> Any:
    """The default of parameter ``key`` of the part registered as ``name`` (its constructor's signature), so that
    code that needs a part's default reads it where it is defined.

    Raises:
        ConfigError: ``name`` is not registered, or its constructor has no parameter ``key`` with a default.
    """
    params, _, _ = constructor_parameters(_registered(name, name))
    if key not in params or params[key].default is inspect.Parameter.empty:
        raise ConfigError(f'{name} has no parameter {key!r} with a default')
    return params[key].default


# ---------------------------------------------------------------------------------------------------- types
_NAMES = {float: 'a number', int: 'an integer', bool: 'True or False', str: 'a string', type(None): 'None',
          dict: 'a dict'}


def _describe(ann: Any) -> str:
    """'a number', 'a number or None', 'a list of integers' ... for an annotation."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin in (typing.Union, types.UnionType):
        parts = [_describe(a) for a in args if a is not type(None)]
        return ' or '.join(dict.fromkeys(parts + (['None'] if type(None) in args else [])))
    if origin is typing.Literal:
        return 'one of ' + ', '.join(repr(a) for a in args)
    if origin in (list, tuple, cabc.Sequence):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f'a tuple of {len(args)} ({", ".join(_describe(a) for a in args)})'
        if args:
            inner = _describe(args[0])
            return 'a list of ' + (inner.split(' ', 1)[1] + 's' if inner.startswith(('a ', 'an ')) else inner)
        return 'a list'
    if origin in (dict, cabc.Mapping):
        return 'a dict'
    return _NAMES.get(ann, f'a {getattr(ann, "__name__", ann)}')


def matches(value: Any, ann: Any) -> bool:
    """Whether ``value`` fits ``ann``. Only the plain types are checked (numbers, bool, str, None, dict, sequences,
    tuples, unions, literals); any other annotation, or none, accepts everything."""
    if ann is inspect.Parameter.empty or ann is Any or isinstance(ann, (str, typing.TypeVar)):
        return True
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if ann is type(None):
        return value is None
    if ann is bool:
        return isinstance(value, bool)
    if ann is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if ann is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if ann is str:
        return isinstance(value, str)
    if ann in (dict, cabc.Mapping) or origin in (dict, cabc.Mapping):
        return isinstance(value, cabc.Mapping)
    if ann in (list, tuple, cabc.Sequence) or origin in (list, tuple, cabc.Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))
        return not args or all(matches(v, args[0]) for v in value)
    return True  # a class we do not know how to check (torch.dtype, os.PathLike, a config dict for it, ...)


# ---------------------------------------------------------------------------------------------------- walking
def check_model_config(model: Mapping, where: str = 'model') -> None:
    """Check ``cfg.model`` (or any part of it) against the registered constructors.

    Raises:
        ConfigError: one line naming the dotted key ('model.clip.final_attn.beta', 'model.post_process[1].type'),
            what is wrong, and what would be right (the part's keys with the closest match, the expected type).
    """
    _walk(model, where)


def _walk(value: Any, where: str) -> None:
    if isinstance(value, cabc.Mapping):
        if 'type' in value:
            _check_part(value, where)
        else:
            for key, item in value.items():
                _walk(item, f'{where}.{key}')
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _walk(item, f'{where}[{i}]')


def _check_part(part: Mapping, where: str) -> None:
    """A dict with a ``type``: its keys and value types against the registered constructor, then its children."""
    kind = part['type']
    if isinstance(kind, str):
        obj = _registered(kind, f'{where}.type')
    elif callable(kind):
        obj = kind
    else:
        raise ConfigError(f'{where}.type: expected a registered class name, got {kind!r}')
    params, hints, open_kwargs = constructor_parameters(obj)
    name = getattr(obj, '__name__', str(kind))
    for key, value in part.items():
        if key == 'type' or key.startswith('_') or key in SKIPPED_KEYS:
            continue
        dotted = f'{where}.{key}'
        if key not in params:
            if not open_kwargs:
                raise ConfigError(f'{dotted}: unknown key of {name}{_suggest(key, params)}; valid keys of {where}: '
                                  f'{", ".join(sorted(params))}')
        elif not matches(value, hints[key]):
            raise ConfigError(f'{dotted}: expected {_describe(hints[key])}, got {value!r}')
        _walk(value, dotted)


def check_override_keys(cfg: Mapping, options: Mapping[str, Any]) -> None:
    """Refuse ``--cfg-options`` whose top-level key the config does not have (``foo.bar=1`` would be ignored)."""
    keys = [k for k in cfg.keys() if not k.startswith('_')]
    for option in options:
        top = str(option).split('.', 1)[0]
        if top not in cfg:
            raise ConfigError(f'--cfg-options {option}: the config has no top-level key {top!r}'
                              f'{_suggest(top, keys)}; it has: {", ".join(sorted(keys))}')
