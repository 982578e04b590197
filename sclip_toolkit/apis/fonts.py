"""Fonts for the words drawn into pictures (legends, panel titles): accented Latin, Greek, Cyrillic, Chinese,
Japanese, Korean and emoji, each character from the first font that has it.

The fonts are looked up once, in this order (``$SCLIP_FONT``, a list of font files separated by ``os.pathsep``,
goes first):

- Noto Sans (Debian ``fonts-noto-core``): Latin, Greek, Cyrillic and many more scripts;
- Noto Sans CJK (``fonts-noto-cjk``), its Simplified Chinese face: Chinese, Japanese, Korean;
- Noto Sans Symbols 2 (``fonts-noto-core``) and Symbola (``fonts-symbola``): symbols and emoji, drawn as outlines
  in the text colour. Colour emoji fonts (Noto Color Emoji) are bitmaps that FreeType draws only at their one
  built-in size, so they are not used;
- DejaVu Sans, Liberation Sans (present on most Linux machines).

``tools/setup_env.sh`` installs the Debian packages when run as root. When none of these fonts is found, Pillow's
bundled font is used (Latin only) and a warning says what to install.
"""
from __future__ import annotations

import functools
import os
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import FrozenSet, List, Optional, Sequence, Tuple

from PIL import ImageDraw, ImageFont

# File names in order of preference; (file name, face to prefer in a collection).
FONT_FILES: Tuple[Tuple[str, Optional[str]], ...] = (
    ('NotoSans-Regular.ttf', None),
    ('NotoSansCJK-Regular.ttc', 'SC'),
    ('NotoSansCJKsc-Regular.otf', None),
    ('NotoSansSymbols2-Regular.ttf', None),
    ('NotoSansSymbols-Regular.ttf', None),
    ('Symbola_hint.ttf', None),
    ('Symbola.ttf', None),
    ('DejaVuSans.ttf', None),
    ('LiberationSans-Regular.ttf', None),
)
FONT_DIRS = ('/usr/share/fonts', '/usr/local/share/fonts', '~/.local/share/fonts', '~/.fonts', '/Library/Fonts',
             '/System/Library/Fonts', 'C:/Windows/Fonts')
INSTALL_HINT = ('install fonts-noto-core, fonts-noto-cjk and fonts-symbola (tools/setup_env.sh does as root), or '
                'set SCLIP_FONT=/path/to/font.ttf')


@dataclass(frozen=True)
class FontFile:
    """A font file, the face used in a collection, and the characters it has (None: unknown, taken as all)."""
    path: Path
    index: int
    chars: Optional[FrozenSet[int]]


@functools.lru_cache(maxsize=1)
def font_files() -> Tuple[FontFile, ...]:
    """The fonts found on this machine, in order of preference (looked up once per process)."""
    found = {}
    for folder in FONT_DIRS:
        root = Path(folder).expanduser()
        if root.is_dir():
            for dirpath, _, names in os.walk(root):
                for name in names:
                    found.setdefault(name, Path(dirpath) / name)
    chosen = [(Path(p), None) for p in os.environ.get('SCLIP_FONT', '').split(os.pathsep) if p and Path(p).is_file()]
    chosen += [(found[name], face) for name, face in FONT_FILES if name in found]
    out = []
    for path, face in chosen:
        index = _face_index(path, face)
        if index is not None:
            out.append(FontFile(path, index, _characters(path, index)))
    return tuple(out)


def _face_index(path: Path, face: Optional[str]) -> Optional[int]:
    """The face of a collection whose name has ``face`` ('SC'), else 0; None when FreeType cannot open the file."""
    try:
        ImageFont.truetype(str(path), 12, index=0)
    except (OSError, ImportError):
        return None
    if face is None or path.suffix.lower() != '.ttc':
        return 0
    for index in range(1, 10):
        try:
            if face in ImageFont.truetype(str(path), 12, index=index).getname()[0].split():
                return index
        except OSError:
            break
    return 0


def _characters(path: Path, index: int) -> Optional[FrozenSet[int]]:
    """The code points a font maps (its cmap), or None when fontTools cannot read it."""
    try:
        from fontTools.ttLib import TTFont
        with TTFont(str(path), fontNumber=index, lazy=True) as font:
            return frozenset(font.getBestCmap() or ())
    except Exception:  # fontTools missing or an unusual file: use the font for everything
        return None


@functools.lru_cache(maxsize=64)
def _truetype(path: Path, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size, index=index)


@functools.lru_cache(maxsize=1)
def _warn_missing() -> None:
    warnings.warn(f'no font with wide coverage found (looked for {", ".join(n for n, _ in FONT_FILES[:3])} in '
                  f'{", ".join(FONT_DIRS[:3])}); names outside basic Latin may be drawn as boxes: {INSTALL_HINT}',
                  UserWarning, stacklevel=4)


class TextFont:
    """Fonts of one size that draw a text together: each character comes from the first font that has it.

    Attributes:
        size: pixels per em.
        fonts: the FreeType fonts, in order of preference; ``fonts[0]`` sets the line metrics.
    """

    def __init__(self, size: int, files: Sequence[FontFile]):
        self.size = size
        self.files = list(files)
        if self.files:
            self.fonts = [_truetype(f.path, f.index, size) for f in self.files]
        else:
            _warn_missing()
            try:
                self.fonts = [ImageFont.load_default(size=size)]
            except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
                self.fonts = [ImageFont.load_default()]
        self._missing_warned: set = set()

    def _font_of(self, char: str) -> int:
        code = ord(char)
        for i, f in enumerate(self.files):
            if f.chars is None or code in f.chars:
                return i
        if not char.isspace() and code not in self._missing_warned and self.files:
            self._missing_warned.add(code)
            warnings.warn(f'no font here has the character {char!r} (U+{code:04X}); it is drawn as a box: '
                          f'{INSTALL_HINT}', UserWarning, stacklevel=4)
        return 0

    def runs(self, text: str) -> List[Tuple[str, ImageFont.FreeTypeFont]]:
        """``text`` cut into pieces drawn with one font each, in order."""
        out: List[Tuple[str, int]] = []
        for char in text:
            if _invisible(char):
                continue
            index = self._font_of(char) if len(self.fonts) > 1 else 0
            if out and out[-1][1] == index:
                out[-1] = (out[-1][0] + char, index)
            else:
                out.append((char, index))
        return [(piece, self.fonts[i]) for piece, i in out]

    def ascent(self) -> int:
        font = self.fonts[0]
        return font.getmetrics()[0] if hasattr(font, 'getmetrics') else 0

    def text_size(self, text: str) -> Tuple[int, int]:
        """(width, height) in pixels of ``text`` drawn from its top-left corner (as :meth:`draw` draws it)."""
        if not text:
            return 0, 0
        x, top, bottom = 0.0, None, 0
        ascent = self.ascent()
        for piece, font in self.runs(text):
            _, t, _, b = font.getbbox(piece, anchor='ls') if ascent else font.getbbox(piece)
            t, b = (t + ascent, b + ascent) if ascent else (t, b)
            top, bottom = t if top is None else min(top, t), max(bottom, b)
            x += font.getlength(piece)
        return int(round(x)), int(bottom - min(0, top or 0))

    def draw(self, draw: ImageDraw.ImageDraw, xy: Tuple[float, float], text: str, fill) -> None:
        """Draw ``text`` with its top-left corner (the primary font's ascender line) at ``xy``."""
        x, y = xy
        ascent = self.ascent()
        for piece, font in self.runs(text):
            if ascent:
                draw.text((x, y + ascent), piece, fill=fill, font=font, anchor='ls')
            else:
                draw.text((x, y), piece, fill=fill, font=font)
            x += font.getlength(piece)


def _invisible(char: str) -> bool:
    """Joiners, variation selectors and other format characters (emoji sequences are full of them): no font draws
    them as a glyph, and an outline font would show them as boxes."""
    code = ord(char)
    return (unicodedata.category(char) in ('Cc', 'Cf') or 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF
            or 0x1F3FB <= code <= 0x1F3FF)  # skin-tone modifiers: shown as swatches by fonts without colour


def text_font(size: int) -> TextFont:
    """The fonts of this machine with the widest coverage, at ``size`` pixels (see the module docstring)."""
    return TextFont(int(size), font_files())
