"""Reading a vocabulary given to the API: a class-name file, a 'a, b; c' string, or a list of classes."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Sequence, Union

from ..models.text import ClassNameError, parse_class_names, resolve_path

ClassesLike = Union[str, os.PathLike, Sequence[Union[str, Sequence[str]]]]


def _class_file(text: Union[str, os.PathLike]) -> Optional[Path]:
    """The class-name file ``text`` names (relative to the working directory or the project), if it is one."""
    try:
        path = resolve_path(text, 'class-name file')
    except FileNotFoundError:
        return None
    return path if path.is_file() else None


def parse_classes(classes: ClassesLike, where: Optional[str] = None) -> Union[Path, List[List[str]]]:
    """A class-name file path, or classes as lists of names.

    Args:
        classes: a class-name file (one class per line, synonyms separated by ';' or ','); a string
            'sky, cloud; tree; person, man' (';' between classes, ',' between synonyms); or a list whose items are
            a class ('sky, cloud' or ['sky', 'cloud']).
        where: how errors name a class of a string or list (see :func:`parse_class_names`; default 'classes[i]').
    """
    if isinstance(classes, (str, os.PathLike)):
        path = _class_file(classes)
        if path is not None:
            return path
        text = str(classes).strip()
        if isinstance(classes, os.PathLike) or text.endswith('.txt'):
            raise ClassNameError(f'class-name file {text!r} not found (looked in {Path.cwd()})')
        parts = text.split(';')
        if len(parts) > 1 and not parts[-1].strip():  # tolerate a trailing ';'
            parts = parts[:-1]
        if not text:
            raise ClassNameError('no classes given; write e.g. "sky, cloud; tree; person"')
        return parse_class_names(parts, separator=',', where=where)
    return parse_class_names(list(classes), separator=None, where=where)
