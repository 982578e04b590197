"""The text side: class names and prompt templates -> one unit-norm embedding per name (importing registers
CLIPTextClassifier).

``base.py`` holds the contract (:class:`TextClassifier` -> :class:`ClassEmbeddings`); ``names.py`` parses class
names, ``prompts.py`` embeds them with templates (``shared_prefix.py``: the same, each template's prefix once),
``cache.py`` keeps them on disk, ``clip_classifier.py`` is the registered part.
"""
from ...resources import PROJECT_ROOT, resolve_path
from .base import ClassEmbeddings, TextClassifier
from .cache import TextEmbeddingCache, default_cache_dir
from .clip_classifier import CLIPTextClassifier
from .names import ClassNameError, flatten_names, parse_class_names
from .prompts import PROMPTS_DIR, available_templates, build_text_classifier, encode_prompts, load_templates

__all__ = ['ClassEmbeddings', 'TextClassifier', 'CLIPTextClassifier', 'PROJECT_ROOT', 'PROMPTS_DIR',
           'ClassNameError', 'TextEmbeddingCache', 'available_templates', 'build_text_classifier',
           'default_cache_dir', 'encode_prompts', 'flatten_names', 'load_templates', 'parse_class_names',
           'resolve_path']
