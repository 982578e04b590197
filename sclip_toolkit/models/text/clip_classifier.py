"""The text-classifier part: vocabulary, prompt templates, encoding and the memory and disk caches."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Set, Union

import torch
from mmseg.registry import MODELS

from .base import ClassEmbeddings, TextClassifier
from .cache import TextEmbeddingCache
from .extras import add_extra_prompts, extras_digest, load_extra_prompts
from .length import warn_long_names
from .names import flatten_names, parse_class_names
from .prompts import load_templates
from .shared_prefix import build_text_classifier_shared_prefix


_DEFAULT = object()  # "the part's own separator" in set_vocabulary


@MODELS.register_module()
class CLIPTextClassifier(TextClassifier):
    """Class-name embeddings from CLIP's text tower: the mean over templates of unit-norm prompt embeddings.

    Args:
        class_names: class-name file (one class per line) or a list of classes.
        separator: name separator within a line (', ', ',', '; '; None = ';' if present else ',').
        templates: prompt template set name in ``prompts/``, a file, or a list.
        allow_duplicate_names: accept a name listed under two classes (the references' COCO-Object files).
        cache: cache embeddings on disk (True: ``$SCLIP_CACHE_DIR`` or ~/.cache/sclip_toolkit; a folder; False: off).
        extra_prompts: per-name sentences added to the template prompts (``text/extras.py``): a set name in
            ``prompts/`` ('ovstitcher_class_biased'), a JSON path or a dict; None: templates only.
    """

    def __init__(self, class_names: Union[str, Sequence] = ('object',), separator: Optional[str] = ', ',
                 templates: Union[str, Sequence[str]] = 'openai_imagenet_80', allow_duplicate_names: bool = False,
                 cache: Union[bool, str] = True, extra_prompts: Union[str, dict, None] = None):
        super().__init__()
        self.templates = load_templates(templates)
        self.extra_prompts = load_extra_prompts(extra_prompts) if extra_prompts is not None else None
        self.separator, self.allow_duplicate_names = separator, allow_duplicate_names
        self.disk_cache = None if cache is False else TextEmbeddingCache(None if cache is True else cache)
        self._memory: Dict[tuple, ClassEmbeddings] = {}
        self._warned_long: Set[str] = set()  # names already reported as too long for the text encoder
        self.set_vocabulary(class_names)

    def set_vocabulary(self, class_names: Union[str, Sequence], separator=_DEFAULT) -> None:
        """Use these classes from now on (a class-name file or a list; parsed now, embedded on first use)."""
        sep = self.separator if separator is _DEFAULT else separator
        self.classes: List[List[str]] = parse_class_names(class_names, sep, self.allow_duplicate_names)

    @property
    def names(self) -> List[str]:
        return flatten_names(self.classes)[0]

    def is_cached(self, clip) -> bool:
        """Whether the current vocabulary's embeddings are in memory for this encoder."""
        return self._key(clip) in self._memory

    def _key(self, clip) -> tuple:
        return (tuple(self.names), tuple(self._cache_templates()), clip.checkpoint_id, clip.device, clip.dtype)

    def _cache_templates(self) -> List[str]:
        """The templates as the caches key them (with a digest of the names' extra sentences, when any)."""
        if not self.extra_prompts:
            return list(self.templates)
        return [*self.templates, f'<extra prompts {extras_digest(self.extra_prompts, self.names)}>']

    @torch.no_grad()
    def forward(self, clip) -> ClassEmbeddings:
        """The current vocabulary's embeddings for ``clip`` (a :class:`CLIPBackbone`), from memory, disk or encoding."""
        key = self._key(clip)
        if key not in self._memory:
            names, query_idx = flatten_names(self.classes)
            warn_long_names(clip.tokenizer(), clip.context_length, names, self.templates, self._warned_long)
            emb, disk_key = None, None
            if self.disk_cache is not None:
                disk_key = self.disk_cache.key(clip.checkpoint_id, clip.dtype, clip.device.type, names,
                                               self._cache_templates())
                emb = self.disk_cache.load(disk_key, len(names))
            if emb is None:
                # each template's prefix once, then the name and suffix per prompt: same values (<= 1e-5)
                emb = build_text_classifier_shared_prefix(clip, names, self.templates)
                if self.extra_prompts:
                    emb = add_extra_prompts(clip, names, self.templates, emb, self.extra_prompts)
                if self.disk_cache is not None:
                    self.disk_cache.save(disk_key, emb)
            self._memory[key] = ClassEmbeddings(emb.to(clip.device, clip.output_dtype), query_idx.to(clip.device),
                                                len(self.classes))
        return self._memory[key]

    def extra_repr(self) -> str:
        extra = f', extra_prompts={len(self.extra_prompts)} names' if self.extra_prompts else ''
        return f'classes={len(self.classes)}, names={len(self.names)}, templates={len(self.templates)}{extra}'
