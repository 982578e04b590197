"""Per-name extra prompts (OV-Stitcher's class-biased prompts): sentences added verbatim to a name's template prompts.

A source is a JSON object ``{name: [sentence, ...]}``: a set name in ``prompts/`` (``ovstitcher_class_biased``, with
its licence note beside it) or a path. A name's embedding becomes the renormalised mean of the unit-norm embeddings
of its T template prompts and its k sentences, as the reference computes it (``generate_category_embeddings``).
"""
from __future__ import annotations

import hashlib
import json
from typing import Dict, List, Sequence, Union

import torch

from ...exceptions import ConfigError
from .prompts import PROMPTS_DIR, encode_prompts, prompt_file

ExtraPrompts = Dict[str, List[str]]


def available_extra_prompts() -> List[str]:
    """Names of the extra-prompt sets in ``prompts/`` (JSON file stems)."""
    return sorted(p.stem for p in PROMPTS_DIR.glob('*.json'))


def load_extra_prompts(source: Union[str, dict]) -> ExtraPrompts:
    """The {name: sentences} mapping of a set name, a JSON path or a dict; checked for its shape."""
    if isinstance(source, dict):
        data, label = source, '<dict>'
    else:
        path = prompt_file(source, '.json', 'extra-prompt file', 'extra-prompt set', available_extra_prompts(),
                           'a path to a JSON file')
        label = str(path)
        try:
            data = json.loads(path.read_text(encoding='utf-8'))
        except json.JSONDecodeError as exc:
            raise ConfigError(f'{label} is not valid JSON: {exc}') from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, list)
                                             and all(isinstance(s, str) for s in v) for k, v in data.items()):
        raise ConfigError(f'{label}: extra prompts must be a JSON object {{name: [sentence, ...]}}')
    return {k: list(v) for k, v in data.items()}


def extras_digest(extras: ExtraPrompts, names: Sequence[str]) -> str:
    """A short digest of the sentences the ``names`` get (part of the text-embedding cache key)."""
    used = {n: extras[n] for n in names if extras.get(n)}
    return hashlib.sha256(json.dumps(used, sort_keys=True).encode()).hexdigest()[:16]


@torch.no_grad()
def add_extra_prompts(clip, names: Sequence[str], templates: Sequence[str], template_emb: torch.Tensor,
                      extras: ExtraPrompts) -> torch.Tensor:
    """(Q, E) unit-norm name embeddings with the extra sentences: for each name that has sentences, the
    renormalised mean of the unit-norm embeddings of its template prompts and its sentences (encoded whole, as the
    reference does); the other names keep their row of ``template_emb``."""
    out = template_emb.clone()
    tokenizer = clip.tokenizer()
    for q, name in enumerate(names):
        sentences = extras.get(name) or []
        if sentences:
            emb = encode_prompts(clip, tokenizer([t.replace('{}', name) for t in templates] + sentences)).float()
            mean = (emb / emb.norm(dim=-1, keepdim=True)).mean(dim=0)
            out[q] = (mean / mean.norm()).to(out.dtype)
    return out
