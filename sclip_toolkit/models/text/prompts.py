"""Prompt templates and the text classifier they make: the mean over templates of unit-norm prompt embeddings."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Union

import torch

from ...exceptions import ConfigError
from ...resources import PROJECT_ROOT, resolve_path

PROMPTS_DIR = PROJECT_ROOT / 'prompts'


def available_templates() -> List[str]:
    """Names of the template sets in ``prompts/`` (file stems)."""
    return sorted(p.stem for p in PROMPTS_DIR.glob('*.txt'))


def prompt_file(source: str, suffix: str, what: str, kind: str, valid: Sequence[str], hint: str) -> Path:
    """The file of a set name in ``prompts/`` (``source`` + ``suffix``), else ``source`` as a path; a ConfigError that
    lists the ``valid`` set names and the ``hint`` when neither exists."""
    path = PROMPTS_DIR / f'{source}{suffix}'
    if path.is_file():
        return path
    try:
        return resolve_path(source, what)
    except FileNotFoundError:
        raise ConfigError(f'unknown {kind} {source!r}; valid: {", ".join(valid)} (or {hint})') from None


def load_templates(templates: Union[str, Sequence[str]] = 'openai_imagenet_80') -> List[str]:
    """Prompt templates with '{}' where the name goes: a set name from ``prompts/``, a file path, or a list."""
    if not isinstance(templates, str):
        out = list(templates)
    else:
        path = prompt_file(templates, '.txt', 'template file', 'prompt template set', available_templates(),
                           'a path to a file with one template per line')
        out = [line.rstrip('\r\n') for line in path.read_text(encoding='utf-8').splitlines()]
        out = [t for t in out if t.strip()]
    bad = [t for t in out if '{}' not in t]
    if not out or bad:
        raise ConfigError(f'every prompt template needs a {{}} placeholder for the name; bad: '
                          f'{bad[:3] or "(none given)"}')
    return out


@torch.no_grad()
def encode_prompts(clip, token_ids: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Text embeddings of (N, context) token ids, each group of prompts encoded at its own length.

    Under the causal mask the end-of-text feature does not depend on the padding after it, so prompts grouped by
    length and encoded without their padding give the full-context result with far less work.
    """
    lengths = token_ids.argmax(dim=-1) + 1  # the end-of-text token has the largest id
    out: Optional[torch.Tensor] = None
    order = torch.argsort(lengths, stable=True)
    for start in range(0, len(order), batch_size):
        sel = order[start:start + batch_size]
        length = int(lengths[sel].max())
        emb = clip.encode_text(token_ids[sel, :length].to(clip.device))
        if out is None:
            out = emb.new_empty((len(token_ids), emb.shape[1]))
        out[sel.to(out.device)] = emb
    return out


@torch.no_grad()
def build_text_classifier(clip, names: Sequence[str], templates: Sequence[str],
                          batch_size: int = 256) -> torch.Tensor:
    """(Q, E) unit-norm class-name embeddings: mean over templates of unit-norm prompt embeddings, renormalised."""
    tokenizer = clip.tokenizer()
    prompts = [t.replace('{}', n) for n in names for t in templates]
    tokens = tokenizer(prompts)
    emb = encode_prompts(clip, tokens, batch_size)
    emb = emb / emb.norm(dim=-1, keepdim=True)
    emb = emb.view(len(names), len(templates), -1).mean(dim=1)
    return emb / emb.norm(dim=-1, keepdim=True)
