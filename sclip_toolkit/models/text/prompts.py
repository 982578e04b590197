"""Text side: prompt templates, class-name files (several names per class) and the text classifier.

A class-name file has one class per line, in class-index order (lines starting with ``#`` are comments; blank lines
may end the file); a line may list several names, separated by the method's separator (', ' for SCLIP/NACLIP/SC-CLIP,
',' for ClearCLIP, '; ' for ProxyCLIP, whose ADE-847 names contain commas). A class scores as the max of its names'
probabilities.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from ...exceptions import ConfigError, ToolkitError
from ...resources import DATA_ROOT

# The folder holding configs/ and prompts/: the checkout, or the copy inside an installed wheel.
PROJECT_ROOT = DATA_ROOT
PROMPTS_DIR = PROJECT_ROOT / 'prompts'


class ClassNameError(ToolkitError, ValueError):
    """A class-name file or list is malformed; the message names the file and line."""


def resolve_path(path: Union[str, os.PathLike], kind: str = 'file') -> Path:
    """A path as given if it exists (absolute or relative to the working directory), else relative to the project.

    Configs name data files relative to the project root ('configs/classnames/cls_voc21.txt'), so they work from
    any working directory.
    """
    p = Path(path).expanduser()
    if p.exists():
        return p
    if not p.is_absolute() and (PROJECT_ROOT / p).exists():
        return PROJECT_ROOT / p
    raise FileNotFoundError(f'{kind} {str(path)!r} not found (looked in {Path.cwd()} and {PROJECT_ROOT})')


def available_templates() -> List[str]:
    """Names of the template sets in ``prompts/`` (file stems)."""
    return sorted(p.stem for p in PROMPTS_DIR.glob('*.txt'))


def load_templates(templates: Union[str, Sequence[str]] = 'openai_imagenet_80') -> List[str]:
    """Prompt templates with '{}' where the name goes: a set name from ``prompts/``, a file path, or a list."""
    if not isinstance(templates, str):
        out = list(templates)
    else:
        path = PROMPTS_DIR / f'{templates}.txt'
        if not path.is_file():
            try:
                path = resolve_path(templates, 'template file')
            except FileNotFoundError:
                raise ConfigError(f'unknown prompt template set {templates!r}; valid: '
                                  f'{", ".join(available_templates())}'
                               f' (or a path to a file with one template per line)') from None
        out = [line.rstrip('\r\n') for line in path.read_text(encoding='utf-8').splitlines()]
        out = [t for t in out if t.strip()]
    bad = [t for t in out if '{}' not in t]
    if not out or bad:
        raise ConfigError(f'every prompt template needs a {{}} placeholder for the name; bad: '
                          f'{bad[:3] or "(none given)"}')
    return out


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


@torch.no_grad()
def encode_prompts(clip, token_ids: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Text embeddings of (N, context) token ids, each group of prompts encoded at its own length.

    Under the causal mask the end-of-text feature does not depend on the padding after it, so prompts grouped by
    length and encoded without their padding give the full-context result with far less work.
    """
    lengths = token_ids.argmax(dim=-1) + 1  # the end-of-text token has the largest id
    out: Optional[torch.Tensor] = None
    order = torch.argsort(lengths, stable=True)
    for start in range(0, len(order), batch_size):
        sel = order[start:start + batch_size]
        length = int(lengths[sel].max())
        emb = clip.encode_text(token_ids[sel, :length].to(clip.device))
        if out is None:
            out = emb.new_empty((len(token_ids), emb.shape[1]))
        out[sel.to(out.device)] = emb
    return out


@torch.no_grad()
def build_text_classifier(clip, names: Sequence[str], templates: Sequence[str],
                          batch_size: int = 256) -> torch.Tensor:
    """(Q, E) unit-norm class-name embeddings: mean over templates of unit-norm prompt embeddings, renormalised."""
    tokenizer = clip.tokenizer()
    prompts = [t.replace('{}', n) for n in names for t in templates]
    tokens = tokenizer(prompts)
    emb = encode_prompts(clip, tokens, batch_size)
    emb = emb / emb.norm(dim=-1, keepdim=True)
    emb = emb.view(len(names), len(templates), -1).mean(dim=1)
    return emb / emb.norm(dim=-1, keepdim=True)


def default_cache_dir() -> Path:
    """Where class embeddings are cached: ``$SCLIP_CACHE_DIR`` or ``~/.cache/sclip_toolkit/text_embeddings``."""
    root = os.environ.get('SCLIP_CACHE_DIR')
    return Path(root) if root else Path.home() / '.cache' / 'sclip_toolkit' / 'text_embeddings'


class TextEmbeddingCache:
    """Class-name embeddings on disk, keyed by the weights' identity, the dtype, the templates and the names.

    Files are written to a temporary name and renamed into place, so concurrent processes (e.g. one per GPU)
    never read a half-written file; an unreadable or mismatching file is ignored and recomputed.
    """

    VERSION = 1  # bump when the way embeddings are computed changes

    def __init__(self, directory: Union[str, os.PathLike, None] = None):
        self.directory = Path(directory) if directory else default_cache_dir()

    def key(self, weights_id: str, dtype: torch.dtype, device_type: str, names: Sequence[str],
            templates: Sequence[str]) -> str:
        blob = json.dumps([self.VERSION, weights_id, str(dtype), device_type, list(templates), list(names)])
        return hashlib.sha256(blob.encode('utf-8')).hexdigest()[:32]

    def load(self, key: str, num_names: int) -> Optional[torch.Tensor]:
        path = self.directory / f'{key}.pt'
        if not path.is_file():
            return None
        try:
            entry = torch.load(path, map_location='cpu', weights_only=True)
            emb = entry['embeddings']
            if entry.get('key') != key or emb.dim() != 2 or emb.shape[0] != num_names or not torch.isfinite(emb).all():
                return None
            return emb
        except Exception:  # any unreadable cache file is simply recomputed
            return None

    def save(self, key: str, embeddings: torch.Tensor) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f'.{key}.', suffix='.tmp', dir=self.directory)
            with os.fdopen(fd, 'wb') as fh:
                torch.save({'key': key, 'embeddings': embeddings.detach().cpu()}, fh)
            os.replace(tmp, self.directory / f'{key}.pt')
        except OSError:  # a read-only or full disk only costs the recomputation next time
            try:
                os.unlink(tmp)
            except (OSError, UnboundLocalError):
                pass
