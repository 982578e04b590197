"""The errors the page shows as a line of their own, in the page's words."""
from __future__ import annotations

import re

_ABS_PATH = re.compile(r"(?<![\w.])(?:~/|/)(?:[^\s/'\"]+/)+([^\s/'\",;:)]+)")


class UserError(ValueError):
    """Bad input from the page (image, classes, methods, settings, weights): shown there as one line."""


def hide_paths(text: str, show_paths: bool = False) -> str:
    """``text`` with every absolute or home path reduced to its file name (unless ``show_paths``): the page does
    not tell visitors how the server's disks are laid out or which user it runs as."""
    return text if show_paths else _ABS_PATH.sub(lambda m: m[1], text)


def page_words(method: str, exc: Exception, show_paths: bool) -> str:
    """Why a method could not run, in the page's words: no API argument names, no command-line flags."""
    text = hide_paths(str(exc), show_paths).split('. ')[0]
    text = re.sub(r'\s*\((?:--|model\.|pass )[^)]*\)', '', text)
    text = re.sub(r',? or (?:give|pass) [^;]*', '', text)
    return f'{method} did not run: {text.rstrip(".")}'
