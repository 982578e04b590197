"""Per-image label maps on disk, so an evaluation that stops can resume without recomputing what was done.

A folder is tied to the settings that decide the predictions: the resolved model config (``cfg.model``) and the
identity of the weights the model loaded. A folder written with other settings is refused, naming what differs.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
from PIL import Image

from ..exceptions import ToolkitError

SETTINGS_FILE = 'settings.json'
FORMAT = 2  # version of settings.json
# Model keys that do not change a prediction: weight downloads, embedding caches, the folder itself.
IGNORED_KEYS = frozenset({'download', 'text_cache', 'cache', 'prediction_dir'})


class SettingsMismatch(ToolkitError, ValueError):
    """The prediction folder holds predictions made with other settings; the message lists the differences."""


def flatten(value: Any, prefix: str = '') -> Dict[str, Any]:
    """Nested dicts and lists as ``{'model.clip.name': 'ViT-B/16', 'model.post_process[0].type': ...}``."""
    if isinstance(value, Mapping):
        out: Dict[str, Any] = {}
        for key in sorted(value, key=str):
            if key not in IGNORED_KEYS:
                out.update(flatten(value[key], f'{prefix}.{key}' if prefix else str(key)))
        return out
    if isinstance(value, (list, tuple)) and any(isinstance(v, (Mapping, list, tuple)) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f'{prefix}[{i}]'))
        return out or {prefix: []}
    return {prefix: list(value) if isinstance(value, tuple) else value}


def model_settings(model_cfg: Mapping, model: Optional[torch.nn.Module] = None) -> Dict[str, Any]:
    """Everything that decides the predictions, flat: the model config (keys 'model.*') and the identity of the
    loaded weights ('weights.clip', 'weights.vfm': the built model's ``checkpoint_id``, a fingerprint of the file
    or the name of the release), plus the parsed vocabulary when the model exposes ``classes``."""
    cfg = model_cfg.to_dict() if hasattr(model_cfg, 'to_dict') else dict(model_cfg)
    settings = flatten(json.loads(json.dumps(cfg, default=str)), 'model')
    if model is not None:
        model = getattr(model, 'module', model)  # under a distributed wrapper
        clip = getattr(model, 'clip', None)
        if getattr(clip, 'checkpoint_id', None):
            settings['weights.clip'] = clip.checkpoint_id
        vfm = getattr(clip, 'vfm', None)
        if getattr(vfm, 'checkpoint_id', None):
            settings['weights.vfm'] = vfm.checkpoint_id
        classes = getattr(model, 'classes', None)
        if isinstance(classes, (list, tuple)):
            settings['classes'] = [list(c) if isinstance(c, (list, tuple)) else c for c in classes]
    return settings


def settings_hash(settings: Mapping[str, Any]) -> str:
    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode('utf-8')).hexdigest()[:16]


def describe_differences(stored: Mapping[str, Any], current: Mapping[str, Any], limit: int = 6) -> str:
    """'model.logit_scale: 40 -> 50; weights.clip: ... -> ...' (stored -> current), at most ``limit`` entries."""
    missing = object()
    lines = []
    for key in sorted(set(stored) | set(current)):
        old, new = stored.get(key, missing), current.get(key, missing)
        if old != new:
            fmt = (lambda v: '(unset)' if v is missing else (f'{len(v)} items' if isinstance(v, list) and len(v) > 6
                                                          else repr(v)))
            lines.append(f'{key}: {fmt(old)} -> {fmt(new)}')
    more = f'; and {len(lines) - limit} more' if len(lines) > limit else ''
    return '; '.join(lines[:limit]) + more


class PredictionStore:
    """One PNG per image (uint8, or 16-bit above 256 classes), written atomically, tied to the model's settings.

    Args:
        directory: where the label maps go (created if needed).
        settings: flat settings (see :func:`model_settings`); a folder holding predictions of other settings raises
            :class:`SettingsMismatch` naming the settings that differ.
    """

    def __init__(self, directory: str | os.PathLike, settings: Mapping[str, Any]):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.settings = dict(settings)
        self.hash = settings_hash(self.settings)
        meta = self.directory / SETTINGS_FILE
        if meta.is_file():
            try:
                stored = json.loads(meta.read_text(encoding='utf-8'))
            except (OSError, ValueError):
                stored = {}
            if stored.get('format') != FORMAT:
                raise SettingsMismatch(f'{self.directory} holds predictions of an older version of the toolkit (or an '
                                       f'unreadable {SETTINGS_FILE}); use a new --save-preds folder or delete it')
            if stored.get('hash') != self.hash:
                diff = describe_differences(stored.get('settings', {}), json.loads(json.dumps(self.settings,
                                                                                              default=str)))
                raise SettingsMismatch(f'{self.directory} holds predictions made with other settings ({diff}); use '
                                       f'a new --save-preds folder, or delete this one')
        else:
            self._atomic_write(meta, json.dumps(dict(format=FORMAT, hash=self.hash, settings=self.settings), indent=1,
                                                default=str).encode('utf-8'))

    def path_for(self, img_path: str) -> Path:
        digest = hashlib.sha1(os.path.abspath(img_path).encode('utf-8')).hexdigest()[:10]
        return self.directory / f'{Path(img_path).stem}_{digest}.png'

    def __len__(self) -> int:
        """The number of label maps saved in the folder."""
        return sum(1 for _ in self.directory.glob('*.png'))

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

    def load_all(self, items: List[Tuple[str, Tuple[int, int]]]) -> Optional[List[torch.Tensor]]:
        """Label maps of every (image path, (H, W)), or None when any one is missing."""
        out = []
        for img_path, shape in items:
            labels = self.load(img_path, shape) if img_path else None
            if labels is None:
                return None
            out.append(labels)
        return out

    def save(self, img_path: str, labels: torch.Tensor) -> None:
        """Store a label map (..., H, W); the file appears complete or not at all."""
        array = labels.reshape(labels.shape[-2:]).cpu().numpy()
        image = Image.fromarray(array.astype(np.uint8 if array.max() < 256 else np.uint16))
        fd, tmp = tempfile.mkstemp(suffix='.tmp', dir=self.directory)
        os.close(fd)
        try:
            image.save(tmp, format='PNG')
            os.replace(tmp, self.path_for(img_path))
        except BaseException:  # includes Ctrl-C: no partial file is left behind
            Path(tmp).unlink(missing_ok=True)
            raise

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(suffix='.tmp', dir=path.parent)
        with os.fdopen(fd, 'wb') as fh:
            fh.write(data)
        os.replace(tmp, path)
