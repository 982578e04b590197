"""Methods are found, not listed: every ``configs/_base_/methods/<name>.py`` is the method ``<name>``.

Further folders of method base configs can be added with ``$SCLIP_METHOD_PATH`` (folders separated by ``os.pathsep``)
or :func:`add_method_dir`, so a project of one's own adds a method without touching the toolkit. A base config for
a specific backbone lives in a sub-folder named by the backbone tag (``vitl14/scclip.py``); the API picks it when the
backbone matches.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, List, Optional

from .exceptions import ConfigError
from .resources import PROJECT_ROOT

METHODS_DIR = PROJECT_ROOT / 'configs' / '_base_' / 'methods'
_EXTRA_DIRS: List[Path] = []


def add_method_dir(path: os.PathLike) -> None:
    """Look for method base configs in ``path`` too (after the toolkit's own)."""
    path = Path(path)
    if path not in _EXTRA_DIRS:
        _EXTRA_DIRS.append(path)


def method_dirs() -> List[Path]:
    """Folders searched for method base configs, in order: the toolkit's, ``$SCLIP_METHOD_PATH``, added ones."""
    env = [Path(p) for p in os.environ.get('SCLIP_METHOD_PATH', '').split(os.pathsep) if p]
    return [METHODS_DIR, *env, *_EXTRA_DIRS]


def method_files() -> Dict[str, Path]:
    """Method name -> its base config; a later folder does not shadow an earlier one's method."""
    found: Dict[str, Path] = {}
    for folder in method_dirs():
        for path in sorted(folder.glob('*.py')):
            if not path.name.startswith('_'):
                found.setdefault(path.stem, path)
    return found


def available_methods() -> List[str]:
    """Every method name, sorted (those with a base config in any method folder)."""
    return sorted(method_files())


def backbone_tag(backbone: str) -> str:
    """'ViT-L/14', 'ViT-L-14-336', 'vit-l-14-quickgelu' -> 'vitl14': the folder of backbone-specific bases."""
    match = re.match(r'vit-?([a-z])[-/]?(\d+)', backbone.lower())
    return f'vit{match[1]}{match[2]}' if match else ''


def method_base(method: str, backbone: Optional[str] = None) -> Path:
    """The base config of ``method``, the backbone-specific one when it exists.

    Raises:
        ConfigError: unknown method; the message lists the valid ones.
    """
    files = method_files()
    if method not in files:
        raise ConfigError(f'unknown method {method!r}; valid: {", ".join(sorted(files))}')
    path = files[method]
    specific = path.parent / backbone_tag(backbone or '') / path.name
    return specific if backbone and specific.is_file() else path
