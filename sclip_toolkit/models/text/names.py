"""Class names: class-name files and lists -> classes as lists of names (several names per class).

A class-name file has one class per line, in class-index order (lines starting with ``#`` are comments; blank lines
may end the file); a line may list several names, separated by the method's separator (', ' for SCLIP/NACLIP/SC-CLIP,
',' for ClearCLIP, '; ' for ProxyCLIP, whose ADE-847 names contain commas). A class scores as the max of its names'
probabilities.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from ...exceptions import ToolkitError
from ...resources import resolve_path


class ClassNameError(ToolkitError, ValueError):
    """A class-name file or list is malformed; the message names the file and line."""


def _split_line(line: str, separator: Optional[str]) -> List[str]:
    if separator is None:  # user files: ';' if the line has one, else ','
        separator = ';' if ';' in line else ','
    return line.split(separator)


def parse_class_names(source: Union[str, os.PathLike, Sequence[Union[str, Sequence[str]]]],
                      separator: Optional[str] = ', ', allow_duplicates: bool = False,
                      where: Optional[str] = None) -> List[List[str]]:
    """Classes as lists of names, from a class-name file or a list.

    A file (or a multi-line string) has one class per line. Lines starting with ``#`` are comments and blank lines
    at the end are ignored; a blank line between classes is an error, since line order gives the class index.

    Args:
        source: path of a class-name file, or a list whose items are a class (a string with separators, or a list
            of names).
        separator: the split string of the method's files (', ', ',', '; '); None splits on ';' when a line has
            one and on ',' otherwise (for files written by hand). Names are stripped of surrounding spaces, which
            does not change their tokens.
        allow_duplicates: accept a name that appears in two classes (the references' COCO-Object files list
            'bed' both as background and as a class).
        where: how messages name an item of a list: a format string with ``{index}`` (from 0) or ``{number}`` (from
            1), e.g. 'class {number} of --classes'; default 'classes[{index}]'. File lines are named 'path:line'.

    Raises:
        ClassNameError: missing or non-UTF-8 file, no classes, empty line or item, empty name (e.g. a trailing
            ', '), or a name repeated; the message names the file and line, or the list item.
    """
    if isinstance(source, (str, os.PathLike)) and not (isinstance(source, str) and '\n' in source):
        try:
            path = resolve_path(source, 'class-name file')
        except FileNotFoundError as exc:
            raise ClassNameError(str(exc)) from None
        raw = path.read_bytes()
        try:
            text = raw.decode('utf-8-sig')
        except UnicodeDecodeError as exc:
            line_no = raw[:exc.start].count(b'\n') + 1
            raise ClassNameError(f'{path}:{line_no}: not UTF-8 text (byte {raw[exc.start]:#x} at offset '
                                 f'{exc.start}); save the file as UTF-8') from None
        lines, label = text.splitlines(), str(path)
    elif isinstance(source, str):
        lines, label = source.splitlines(), '<class list>'
    else:
        lines, label = None, None
    if lines is not None:  # file text: comments and trailing blank lines are not classes
        entries = [(i, line) for i, line in enumerate(lines, start=1) if not line.lstrip().startswith('#')]
        while entries and not entries[-1][1].strip():
            entries.pop()
        if not entries:
            raise ClassNameError(f'{label}: no classes (the file is empty or has only comments); write one class '
                                 f'per line')

        def name(i: int) -> str:
            return f'{label}:{i}'

        def other(i: int) -> str:
            return f'line {i}'
    else:
        entries = list(enumerate(source, start=1))
        if not entries:
            raise ClassNameError('no classes given; give at least one class')
        fmt = where or 'classes[{index}]'

        def name(i: int) -> str:
            return fmt.format(index=i - 1, number=i)

        other = name
    classes: List[List[str]] = []
    seen: Dict[str, int] = {}
    for i, line in entries:
        if isinstance(line, str) and not line.strip():
            if lines is not None:
                raise ClassNameError(f'{name(i)}: empty line; every line must name a class (remove the line, or start '
                                     f'it with # to keep it as a comment)')
            raise ClassNameError(f'{name(i)} is empty; every class needs at least one name')
        pieces = list(line) if not isinstance(line, str) else _split_line(line, separator)
        names = [' '.join(str(p).split()) for p in pieces]
        for n in names:
            if not n:
                shown = line.strip() if isinstance(line, str) else line
                raise ClassNameError(f'{name(i)}: empty name in {shown!r} (a doubled or trailing separator?)')
            key = n.lower()
            if key in seen and (seen[key] == i or not allow_duplicates):
                place = 'in the same class' if seen[key] == i else (
                    f'on {other(seen[key])}' if lines is not None else f'in {other(seen[key])}')
                raise ClassNameError(f'{name(i)}: name {n!r} already appears {place}; a name must belong to one '
                                     f'class')
            seen.setdefault(key, i)
        classes.append(names)
    return classes


def flatten_names(classes: Sequence[Sequence[str]]) -> Tuple[List[str], torch.Tensor]:
    """The query list (all names in order) and ``query_idx`` (Q,): the class index of every name."""
    names = [n for c in classes for n in c]
    idx = torch.tensor([i for i, c in enumerate(classes) for _ in c], dtype=torch.long)
    return names, idx
