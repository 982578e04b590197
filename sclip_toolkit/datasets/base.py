"""Shared pieces of the toolkit's datasets: up-front path checks with actionable errors, names from name files."""
from __future__ import annotations

import os.path as osp
from typing import Optional, Tuple

from ..exceptions import DataError
from ..models.text import PROJECT_ROOT

DATA_HINT = ('set $SCLIP_DATA to the folder holding the datasets, or pass --cfg-options '
             'test_dataloader.dataset.data_root=<folder>; docs/evaluation.md shows the expected layout')


def _join(data_root: Optional[str], path: str) -> str:
    return path if not data_root or osp.isabs(path) else osp.join(data_root, path)


def check_layout(dataset: str, data_root: Optional[str], data_prefix: Optional[dict], ann_file: str = '',
                 need_ann_file: bool = False) -> None:
    """Raise a clear FileNotFoundError when a dataset's image folder or split file is missing.

    Args:
        dataset: class name, for the message.
        data_root / data_prefix / ann_file: as given to the dataset (prefix and ann_file relative to data_root).
        need_ann_file: the split file is required (the image folder holds more than the split).
    """
    img_dir = _join(data_root, (data_prefix or {}).get('img_path', '') or '')
    if not osp.isdir(img_dir):
        root_note = '' if not data_root or osp.isdir(data_root) else f' (data_root {data_root} does not exist either)'
        raise FileNotFoundError(f'{dataset}: image folder {img_dir} not found{root_note}; {DATA_HINT}')
    if ann_file or need_ann_file:
        path = _join(data_root, ann_file)
        if not ann_file or not osp.isfile(path):
            raise FileNotFoundError(f'{dataset}: split file {path or "(ann_file not set)"} not found: it lists the '
                                    f'image names (without suffix) of the split, one per line; {DATA_HINT}')


def names_from_file(filename: str, count: int) -> Tuple[str, ...]:
    """Class names for a dataset's metainfo: the lines of a shipped class-name file (display only).

    Only the number of classes matters for the metric, so when the file is not beside the package (e.g. a
    non-editable install) numbered names are used instead.
    """
    path = PROJECT_ROOT / 'configs' / 'classnames' / filename
    if not path.is_file():
        return tuple(f'class_{i}' for i in range(count))
    names = tuple(line.strip() for line in path.read_text(encoding='utf-8').splitlines())
    if len(names) != count:
        raise DataError(f'{path} has {len(names)} lines, expected {count} classes')
    return names
