"""Per-image label maps on disk, so an evaluation that dies can resume without recomputing what was done."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import torch
from PIL import Image


class PredictionStore:
    """One PNG per image (uint8, or 16-bit above 256 classes), written atomically, tied to the model's settings.

    Args:
        directory: where the label maps go.
        fingerprint: a description of everything that decides the predictions; a folder holding predictions of
            other settings is refused rather than silently mixed in.
    """

    def __init__(self, directory: str | os.PathLike, fingerprint: str):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = self.directory / 'settings.json'
        if meta.is_file():
            stored = json.loads(meta.read_text(encoding='utf-8')).get('fingerprint')
            if stored != fingerprint:
                raise ValueError(f'{self.directory} holds predictions made with other settings; use a new folder '
                                 f'or delete it (stored settings: {stored})')
        else:
            self._atomic_write(meta, json.dumps({'fingerprint': fingerprint}, indent=1).encode('utf-8'))

    def path_for(self, img_path: str) -> Path:
        digest = hashlib.sha1(os.path.abspath(img_path).encode('utf-8')).hexdigest()[:10]
        return self.directory / f'{Path(img_path).stem}_{digest}.png'

    def load(self, img_path: str, shape: Tuple[int, int]) -> Optional[torch.Tensor]:
        """The stored label map (1, H, W) int64, or None when absent, unreadable or of another size."""
        path = self.path_for(img_path)
        if not path.is_file():
            return None
        try:
            labels = np.array(Image.open(path))
        except Exception:  # a file cut short by a crash is recomputed
            return None
        if labels.shape != tuple(shape):
            return None
        return torch.from_numpy(labels.astype(np.int64))[None]

    def save(self, img_path: str, labels: torch.Tensor) -> None:
        array = labels.reshape(labels.shape[-2:]).cpu().numpy()
        image = Image.fromarray(array.astype(np.uint8 if array.max() < 256 else np.uint16))
        fd, tmp = tempfile.mkstemp(suffix='.png', dir=self.directory)
        os.close(fd)
        image.save(tmp, format='PNG')
        os.replace(tmp, self.path_for(img_path))

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        with os.fdopen(fd, 'wb') as fh:
            fh.write(data)
        os.replace(tmp, path)
