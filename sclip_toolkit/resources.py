"""Where the toolkit's data files live: configs/, prompts/ and the class-name files.

In a source checkout (or an editable install) they are the repository's top-level folders. A wheel carries copies
inside the package (``sclip_toolkit/_data``, written by setup.py's build step), found through
``importlib.resources``, so an installed toolkit finds its configs and prompts from any working directory.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Union


def data_root() -> Path:
    """The folder that holds ``configs/`` and ``prompts/``."""
    packaged = resources.files('sclip_toolkit') / '_data'
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[1]


DATA_ROOT = data_root()
# The folder holding configs/ and prompts/: the checkout, or the copy inside an installed wheel.
PROJECT_ROOT = DATA_ROOT


def resolve_path(path: Union[str, os.PathLike], kind: str = 'file') -> Path:
    """A path as given if it exists (absolute or relative to the working directory), else relative to the project.

    Configs name data files relative to the project root ('configs/classnames/cls_voc21.txt'), so they work from
    any working directory.
    """
    p = Path(path).expanduser()
    if _exists(p):
        return p
    if not p.is_absolute() and _exists(PROJECT_ROOT / p):
        return PROJECT_ROOT / p
    raise FileNotFoundError(f'{kind} {str(path)!r} not found (looked in {Path.cwd()} and {PROJECT_ROOT})')


def _exists(path: Path) -> bool:
    """Path.exists() that says False for a text no file can have (a name over 255 bytes, a NUL byte), so that a long
    list of classes given as a string is never mistaken for a path."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False
