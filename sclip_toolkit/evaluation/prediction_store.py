"""Per-image label maps on disk, so an evaluation that stops can resume without recomputing what was done.

A folder is tied to what decides the predictions:

- the resolved model config (``cfg.model``), the parsed vocabulary and the prompt templates as loaded;
- the contents of every file and folder the model config names (class-name and template files, the folder of
  precomputed region masks): a file's SHA-256 (above 64 MiB: its size, first and last MiB), a folder's listing of
  names, sizes and modification times;
- the identity of the weights the model loaded (``checkpoint_id``: a fingerprint of the checkpoint file's size,
  first and last MiB, or the name of the official release);
- each image's content: every label map records the size and BLAKE2 hash of the image file it was computed from.

A folder written with other settings is refused, naming what differs. A label map whose image has changed since is
recomputed (and counted as such), never reused.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from ..exceptions import ToolkitError
from ..io_utils import atomic_open, atomic_write

SETTINGS_FILE = 'settings.json'
FORMAT = 3  # version of settings.json (3: file contents, templates and image fingerprints)
IMAGE_KEY = 'sclip_image'  # PNG text chunk: the fingerprint of the image a label map was computed from
WHOLE_HASH_LIMIT = 64 << 20  # files up to this size are hashed whole
# Model keys that do not change a prediction: weight downloads, embedding caches, the folder itself.
IGNORED_KEYS = frozenset({'download', 'text_cache', 'cache', 'cache_dir', 'prediction_dir'})


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
        templates = getattr(getattr(model, 'text_encoder', None), 'templates', None)
        if isinstance(templates, (list, tuple)):
            settings['templates'] = list(templates)
    settings.update(file_settings(settings))
    return settings


def file_settings(settings: Mapping[str, Any]) -> Dict[str, str]:
    """``{'file <path>': content fingerprint}`` of every existing file a string setting names (a value with a '/'
    or a suffix, relative to the working directory or the project as the config resolves it), and ``{'folder
    <path>': listing fingerprint}`` of the folder of every ``*folder`` setting (precomputed region masks). Weight
    files are left to ``weights.*``, which identify them without reading them whole."""
    from ..models.text import resolve_path

    out: Dict[str, str] = {}
    for key, value in settings.items():
        if not isinstance(value, str) or not value or key.endswith('checkpoint') or len(value) > 4096:
            continue
        folder = key.rsplit('.', 1)[-1].endswith('folder')
        if not folder and '/' not in value and os.sep not in value and not Path(value).suffix:
            continue
        try:
            path = resolve_path(value).resolve()
        except (FileNotFoundError, OSError, ValueError):
            continue
        if path.is_file():
            out[f'file {path}'] = content_fingerprint(path)
        elif path.is_dir() and folder:
            out[f'folder {path}'] = folder_fingerprint(path)
    return out


def content_fingerprint(path: Path) -> str:
    """SHA-256 of a file's bytes (above ``WHOLE_HASH_LIMIT``: of its size, first and last MiB)."""
    size = path.stat().st_size
    if size > WHOLE_HASH_LIMIT:
        from ..models.checkpoint import file_fingerprint
        return 'head-tail:' + file_fingerprint(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:24]


def folder_fingerprint(path: Path) -> str:
    """SHA-256 of a folder's listing (relative name, size, modification time of every file below it)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            stat = os.stat(os.path.join(root, name))
            rel = os.path.relpath(os.path.join(root, name), path)
            digest.update(f'{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n'.encode('utf-8', 'surrogateescape'))
    return digest.hexdigest()[:24]


def image_fingerprint(img_path: str) -> Optional[str]:
    """'<size>:<BLAKE2b of the bytes>' of an image file (None when it cannot be read)."""
    try:
        data = Path(img_path).read_bytes()
    except OSError:
        return None
    return f'{len(data)}:{hashlib.blake2b(data, digest_size=12).hexdigest()}'


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
            if key.startswith(('file ', 'folder ')) and old is not missing and new is not missing:
                lines.append(f'{key}: its contents changed')
            else:
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
            atomic_write(meta, json.dumps(dict(format=FORMAT, hash=self.hash, settings=self.settings), indent=1,
                                          default=str))
        self.changed = 0  # label maps found but not reused: their image changed since they were saved

    def path_for(self, img_path: str) -> Path:
        digest = hashlib.sha1(os.path.abspath(img_path).encode('utf-8')).hexdigest()[:10]
        return self.directory / f'{Path(img_path).stem}_{digest}.png'

    def __len__(self) -> int:
        """The number of label maps saved in the folder."""
        return sum(1 for _ in self.directory.glob('*.png'))

    def load(self, img_path: str, shape: Tuple[int, int]) -> Optional[torch.Tensor]:
        """The stored label map (1, H, W) int64, or None when absent, unreadable, of another size, or computed from
        an image file whose content has changed since (counted in ``changed``)."""
        path = self.path_for(img_path)
        if not path.is_file():
            return None
        try:
            with Image.open(path) as png:
                labels = np.array(png)
                stored = png.info.get(IMAGE_KEY)
        except Exception:  # a file cut short by a crash is recomputed
            return None
        if labels.shape != tuple(shape):
            return None
        if stored is None or stored != (image_fingerprint(img_path) or ''):
            self.changed += 1
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
        """Store a label map (..., H, W) with its image's fingerprint; the file appears complete or not at all."""
        array = labels.reshape(labels.shape[-2:]).cpu().numpy()
        image = Image.fromarray(array.astype(np.uint8 if array.max() < 256 else np.uint16))
        info = PngImagePlugin.PngInfo()
        info.add_text(IMAGE_KEY, image_fingerprint(img_path) or '')
        with atomic_open(self.path_for(img_path)) as fh:
            image.save(fh, format='PNG', pnginfo=info)
