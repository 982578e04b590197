"""The page's classes: typed text or an uploaded class-name file, checked for what a page user can get wrong (too
many classes, names too long, invisible characters) and read back in words when commas may not mean what the user
meant."""
from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import List, Optional

from .errors import UserError

CLASSES_SYNTAX = "';' between classes, ',' between names of one class"


def _invisible(text: str, where: str) -> None:
    """Refuse zero-width and control characters (tabs and line ends aside): they make names that look equal differ,
    and cannot be seen in the page to be removed."""
    for number, line in enumerate(text.splitlines() or [text], start=1):
        for ch in line:
            if ch != '\t' and unicodedata.category(ch) in ('Cc', 'Cf'):
                label = unicodedata.name(ch, 'control character').lower()
                raise UserError(f'{where} line {number}: an invisible character U+{ord(ch):04X} ({label}) in '
                                f'{line.strip()[:40]!r}; delete it and type the name again')


def parse_vocabulary(text: Optional[str], class_file: Optional[str], max_classes: int,
                     max_name_length: int = 200) -> List[List[str]]:
    """Classes from the class-name file when one was uploaded, else from ``text`` ('a, b; c': ';' between classes,
    ',' between names of one class). Typed text is never read as a file name."""
    from ..apis import parse_classes
    from ..models.text import ClassNameError, parse_class_names

    try:
        if class_file:
            _invisible(Path(class_file).read_text(encoding='utf-8', errors='replace'), Path(class_file).name)
            classes = parse_class_names(Path(class_file))
        else:
            parts = (text or '').strip().split(';')
            if len(parts) > 1 and not parts[-1].strip():  # a trailing ';'
                parts = parts[:-1]
            if not ''.join(parts).strip():
                raise UserError('no classes: type some, e.g. "sky, cloud; tree; person, man, woman", or upload a '
                                'class-name file')
            _invisible(text or '', 'classes')
            classes = parse_classes(parts, where='class {number}')
    except ClassNameError as exc:
        message = str(exc)
        if class_file:
            message = message.replace(str(Path(class_file).parent) + '/', '')
        raise UserError(message) from None
    if len(classes) > max_classes:
        raise UserError(f'{len(classes)} classes given; this server takes at most {max_classes} per request '
                        f'(start it with --max-classes N for more)')
    for number, names in enumerate(classes, start=1):
        for name in names:
            if len(name) > max_name_length:
                raise UserError(f'class {number}: a name of {len(name)} characters ({name[:30]!r}...); this server '
                                f'takes names of at most {max_name_length} characters')
    return [list(c) for c in classes]


def reading_note(text: Optional[str], class_file: Optional[str], classes: List[List[str]]) -> Optional[str]:
    """How typed text with commas and no ';' was read (one class of synonyms), since a list of classes separated
    by commas is a common slip; None otherwise."""
    if class_file or not text or ';' in text or ',' not in text or len(classes) != 1:
        return None
    names = classes[0]
    return (f'Read as one class with {len(names)} names ({", ".join(names)}): commas separate names of one class; '
            f'put ";" between classes, e.g. "{"; ".join(names[:3])}"')

