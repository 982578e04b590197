"""Values of ``--cfg-options`` overrides that mmengine's parser leaves as strings: lists of part configs.

``model.post_process=[dict(type='PAMR', steps=5), dict(type='ProbThreshold', threshold=0.2)]`` is a Python
literal with ``dict(...)`` calls; it is read with :mod:`ast` (no code runs), so a whole list of steps can be
given on the command line. Anything else keeps mmengine's own parsing.
"""
from __future__ import annotations

import ast
from typing import Any

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
