"""Where the toolkit's data files live: configs/, prompts/ and the class-name files.

In a source checkout (or an editable install) they are the repository's top-level folders. A wheel carries copies
inside the package (``sclip_toolkit/_data``, written by setup.py's build step), found through
``importlib.resources``, so an installed toolkit finds its configs and prompts from any working directory.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_root() -> Path:
    """The folder that holds ``configs/`` and ``prompts/``."""
    packaged = resources.files('sclip_toolkit') / '_data'
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[1]


DATA_ROOT = data_root()
