"""A font that can draw the given text: class names in any script, not boxes.

Pillow's bundled face covers Latin only. For other text the system's fonts are searched (DejaVu, then the Noto
families that ``tools/setup_env.sh`` installs: ``fonts-noto-core``, ``fonts-noto-cjk``) for one whose character map
covers every character; the character maps are read once per file (fontTools) and kept.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Optional

from PIL import ImageFont

FONT_DIRS = ('/usr/share/fonts', '/usr/local/share/fonts', '~/.local/share/fonts', '~/.fonts')
# Tried first, in this order: wide coverage of Latin, Greek, Cyrillic (DejaVu, Noto Sans), then CJK.
PREFERRED = ('DejaVuSans.ttf', 'NotoSans-Regular.ttf', 'NotoSansCJK-Regular.ttc', 'NotoSansArabic-Regular.ttf',
             'NotoSansDevanagari-Regular.ttf', 'NotoSansHebrew-Regular.ttf', 'NotoSansThai-Regular.ttf')


@functools.lru_cache(maxsize=1)
def font_files() -> List[Path]:
    """Regular sans fonts found on this machine, the preferred ones first."""
    found: Dict[str, Path] = {}
    for folder in FONT_DIRS:
        root = Path(os.path.expanduser(folder))
        if root.is_dir():
            for path in sorted(root.rglob('*')):
                if path.suffix.lower() in ('.ttf', '.otf', '.ttc') and 'Regular' in path.name and 'Serif' not in \
                        path.name and 'Mono' not in path.name:
                    found.setdefault(path.name, path)
            for name in ('DejaVuSans.ttf',):
                for path in root.rglob(name):
                    found.setdefault(path.name, path)
    first = [found.pop(name) for name in PREFERRED if name in found]
    return first + sorted(found.values(), key=lambda p: p.name)


@functools.lru_cache(maxsize=None)
def _charset(path: Path) -> FrozenSet[int]:
    """The code points a font file maps to glyphs (the first face of a collection)."""
    try:
        from fontTools.ttLib import TTFont
        with TTFont(str(path), fontNumber=0, lazy=True) as font:
            return frozenset(font.getBestCmap() or ())
    except Exception:  # unreadable font file, or fontTools missing: the font is not used
        return frozenset()


def needs_wide_font(texts: Iterable[str]) -> bool:
    """Whether ``texts`` has characters beyond Latin-1 (Pillow's bundled face draws those as boxes)."""
    return any(ord(ch) > 0xFF for text in texts for ch in text)


@functools.lru_cache(maxsize=64)
def _font_path(chars: FrozenSet[int]) -> Optional[Path]:
    best, best_count = None, 0
    for path in font_files():
        count = len(chars & _charset(path))
        if count == len(chars):
            return path
        if count > best_count:
            best, best_count = path, count
    return best


def font_for_text(texts: Iterable[str], size: int) -> Optional[ImageFont.FreeTypeFont]:
    """A font of ``size`` pixels that draws every character of ``texts`` (or as many as any font here does); None
    when the text is Latin-1 (Pillow's bundled face suffices) or no font file is found."""
    texts = list(texts)
    if not needs_wide_font(texts):
        return None
    chars = frozenset(ord(ch) for text in texts for ch in text if not ch.isspace())
    path = _font_path(chars)
    if path is None:
        return None
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        return None
