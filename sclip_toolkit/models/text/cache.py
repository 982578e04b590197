"""The disk cache of class-name embeddings."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import torch

from ...io_utils import atomic_open


def default_cache_dir() -> Path:
    """Where class embeddings are cached: ``$SCLIP_CACHE_DIR`` or ``~/.cache/sclip_toolkit/text_embeddings``."""
    root = os.environ.get('SCLIP_CACHE_DIR')
    return Path(root) if root else Path.home() / '.cache' / 'sclip_toolkit' / 'text_embeddings'


class TextEmbeddingCache:
    """Class-name embeddings on disk, keyed by the weights' identity, the dtype, the templates and the names.

    Files are written to a temporary name and renamed into place, so concurrent processes (e.g. one per GPU)
    never read a half-written file; an unreadable or mismatching file is ignored and recomputed.
    """

    VERSION = 1  # bump when the way embeddings are computed changes

    def __init__(self, directory: Union[str, os.PathLike, None] = None):
        self.directory = Path(directory) if directory else default_cache_dir()

    def key(self, weights_id: str, dtype: torch.dtype, device_type: str, names: Sequence[str],
            templates: Sequence[str]) -> str:
        blob = json.dumps([self.VERSION, weights_id, str(dtype), device_type, list(templates), list(names)])
        return hashlib.sha256(blob.encode('utf-8')).hexdigest()[:32]

    def load(self, key: str, num_names: int) -> Optional[torch.Tensor]:
        path = self.directory / f'{key}.pt'
        if not path.is_file():
            return None
        try:
            entry = torch.load(path, map_location='cpu', weights_only=True)
            emb = entry['embeddings']
            if entry.get('key') != key or emb.dim() != 2 or emb.shape[0] != num_names or not torch.isfinite(emb).all():
                return None
            return emb
        except Exception:  # any unreadable cache file is simply recomputed
            return None

    def save(self, key: str, embeddings: torch.Tensor) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with atomic_open(self.directory / f'{key}.pt') as fh:
                torch.save({'key': key, 'embeddings': embeddings.detach().cpu()}, fh)
        except OSError:  # a read-only or full disk only costs the recomputation next time (nothing partial is left)
            pass
