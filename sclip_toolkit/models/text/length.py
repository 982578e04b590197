"""Class names too long for the text encoder: CLIP reads the first ``context_length`` (77) tokens of a prompt and
cuts the rest without a word; this says so, once per name."""
from __future__ import annotations

import warnings
from typing import List, Sequence, Set, Tuple


def prompt_length(tokenizer, text: str) -> int:
    """Tokens of ``text`` as the encoder sees it, start and end tokens included (never cut)."""
    encode = getattr(tokenizer, 'encode', None)
    if encode is not None:
        return len(encode(text)) + 2
    tokens = tokenizer([text])[0]  # a tokenizer without encode() cuts at its context length
    return int((tokens != 0).sum())


def too_long(tokenizer, context_length: int, names: Sequence[str], templates: Sequence[str]) -> List[Tuple[str, int]]:
    """(name, tokens of its longest prompt) of every name whose longest prompt exceeds ``context_length``.

    The longest prompt is the name in the template with the most tokens of its own; BPE does not merge across the
    spaces around '{}', so the name's tokens add to the template's.
    """
    if not templates:
        return []
    longest = max(templates, key=lambda t: prompt_length(tokenizer, t.replace('{}', '')))
    out = []
    for name in names:
        length = prompt_length(tokenizer, longest.replace('{}', name))
        if length > context_length:
            out.append((name, length))
    return out


def warn_long_names(tokenizer, context_length: int, names: Sequence[str], templates: Sequence[str],
                    warned: Set[str]) -> None:
    """Warn once per name (``warned`` keeps the names already reported) whose prompt is cut to the encoder's length."""
    for name, length in too_long(tokenizer, context_length, [n for n in names if n not in warned], templates):
        warned.add(name)
        short = name if len(name) <= 80 else name[:77] + '...'
        warnings.warn(f'class name {short!r} is cut: its longest prompt has {length} tokens, but the text encoder '
                      f'reads only the first {context_length}, so the end of the name is ignored; give a shorter '
                      f'name (or split it into synonyms with ",")', UserWarning, stacklevel=3)
