"""Reading ``--cfg-options`` (the one parser every entry point uses), including what mmengine's parser leaves as
strings: lists of part configs.

``model.post_process=[dict(type='PAMR', steps=5), dict(type='ProbThreshold', threshold=0.2)]`` is a Python
literal with ``dict(...)`` calls; it is read with :mod:`ast` (no code runs), so a whole list of steps can be
given on the command line. Anything else keeps mmengine's own parsing.
"""
from __future__ import annotations

import ast
from typing import Any, Dict, Iterable, Optional, Tuple

from ..exceptions import ConfigError

_STARTS = ('[', '(', '{', 'dict(')


def _value(node: ast.AST, text: str) -> Any:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'dict' and not node.args:
        return {kw.arg: _value(kw.value, text) for kw in node.keywords}
    if isinstance(node, ast.List):
        return [_value(e, text) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(e, text) for e in node.elts)
    if isinstance(node, ast.Dict):
        return {_value(k, text): _value(v, text) for k, v in zip(node.keys, node.values)}
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ConfigError(f'cannot read {ast.get_source_segment(text, node)!r} in {text!r}: only numbers, strings, '
                          f'True/False/None, lists, tuples and dict(...) are allowed') from None


def looks_structured(text: str) -> bool:
    """Whether an override value is a list, tuple or dict literal (with ``dict(...)`` calls allowed)."""
    return isinstance(text, str) and text.lstrip().startswith(_STARTS) and any(c in text for c in '=:')


def parse_structured(text: str, key: str = '') -> Any:
    """The list / tuple / dict that ``text`` spells, e.g. ``[dict(type='PAMR', steps=5)]``.

    Raises:
        ConfigError: not a literal of that kind; the message names ``key``.
    """
    try:
        tree = ast.parse(text.strip(), mode='eval')
    except SyntaxError as exc:
        raise ConfigError(f'{key}: cannot parse {text!r} ({exc.msg}); write e.g. '
                          f"\"{key or 'model.post_process'}=[dict(type='ProbThreshold', threshold=0.2)]\"") from None
    return _value(tree.body, text.strip())


def mmengine_value(text: str) -> Any:
    """``text`` read as mmengine's ``DictAction`` reads a value (through its public call, one item)."""
    import argparse

    from mmengine.config import DictAction

    namespace = argparse.Namespace()
    DictAction(option_strings=[], dest='value')(None, namespace, [f'key={text}'])
    return namespace.value['key']


def parse_cfg_option(item: str) -> Tuple[str, Any]:
    """'model.logit_scale=50' -> ('model.logit_scale', 50), with mmengine's value syntax (numbers, True/False/None,
    'a,b' and '[a,(b,c)]' lists and tuples), plus lists of part configs such as
    "model.post_process=[dict(type='PAMR', steps=5)]" (read with ast, no code runs); an item without '=' raises
    ConfigError."""
    key, sep, value = item.partition('=')
    if not sep or not key.strip():
        raise ConfigError(f'--cfg-options {item!r}: expected KEY=VALUE, e.g. model.logit_scale=50')
    if looks_structured(value):
        return key.strip(), parse_structured(value, key.strip())
    try:
        return key.strip(), mmengine_value(value)
    except AssertionError:  # mmengine asserts balanced brackets
        raise ConfigError(f'--cfg-options {item!r}: unbalanced brackets in the value') from None


def parse_cfg_options(items: Optional[Iterable[str]]) -> Dict[str, Any]:
    """``--cfg-options`` items as a dict of dotted keys (later items win)."""
    return dict(parse_cfg_option(item) for item in (items or []))
