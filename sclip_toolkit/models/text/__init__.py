"""The text side: class names and prompt templates -> one unit-norm embedding per name (importing registers
CLIPTextClassifier)."""
from .clip_classifier import ClassEmbeddings, CLIPTextClassifier
from .prompts import (PROJECT_ROOT, PROMPTS_DIR, ClassNameError, TextEmbeddingCache, available_templates,
                      build_text_classifier, default_cache_dir, encode_prompts, flatten_names, load_templates,
                      parse_class_names, resolve_path)

__all__ = ['ClassEmbeddings', 'CLIPTextClassifier', 'PROJECT_ROOT', 'PROMPTS_DIR', 'ClassNameError',
           'TextEmbeddingCache', 'available_templates', 'build_text_classifier', 'default_cache_dir',
           'encode_prompts', 'flatten_names', 'load_templates', 'parse_class_names', 'resolve_path']
