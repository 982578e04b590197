"""Shared pieces of the toolkit's datasets: up-front path checks with actionable errors, names from name files."""
from __future__ import annotations

import os.path as osp
from typing import Optional, Tuple

from ..exceptions import DataError, ToolkitError
from ..resources import PROJECT_ROOT

DATA_HINT = ('set $SCLIP_DATA to the folder holding the datasets, or pass --cfg-options '
             'test_dataloader.dataset.data_root=<folder>; docs/evaluation.md shows the expected layout')


class DataLayoutError(ToolkitError, FileNotFoundError):
    """A dataset's folder or split file is missing; the message names it and the layout the dataset expects."""


def _join(data_root: Optional[str], path: str) -> str:
    return path if not data_root or osp.isabs(path) else osp.join(data_root, path)


def expected_layout(data_prefix: Optional[dict], ann_file: str = '', img_suffix: str = '.jpg',
                    seg_map_suffix: str = '.png') -> str:
    """'JPEGImages/*.jpg, SegmentationClass/*.png, ImageSets/Segmentation/val.txt (image names, one per line)'."""
    prefix = data_prefix or {}
    parts = []
    if prefix.get('img_path') is not None:
        parts.append(f"{prefix['img_path'] or '.'}/*{img_suffix}")
    if prefix.get('seg_map_path') is not None:
        parts.append(f"{prefix['seg_map_path'] or '.'}/*{seg_map_suffix}")
    if ann_file:
        parts.append(f'{ann_file} (the image names of the split without suffix, one per line)')
    return ', '.join(parts)


def check_layout(dataset: str, data_root: Optional[str], data_prefix: Optional[dict], ann_file: str = '',
                 need_ann_file: bool = False, img_suffix: str = '.jpg', seg_map_suffix: str = '.png') -> None:
    """Raise a one-line DataLayoutError when a dataset's folder or split file is missing.

    Args:
        dataset: class name, for the message.
        data_root / data_prefix / ann_file: as given to the dataset (prefix and ann_file relative to data_root).
        need_ann_file: the split file is required (the image folder holds more than the split).
        img_suffix / seg_map_suffix: file endings, for the description of the expected layout.
    """
    layout = expected_layout(data_prefix, ann_file, img_suffix, seg_map_suffix)
    where = f'expected under {data_root or "the working directory"}: {layout}; {DATA_HINT}'
    if data_root and not osp.isdir(data_root):
        raise DataLayoutError(f'{dataset}: data_root {data_root} does not exist; {where}')
    for key in ('img_path', 'seg_map_path'):
        folder = (data_prefix or {}).get(key)
        if folder is not None and not osp.isdir(_join(data_root, folder)):
            kind = 'image' if key == 'img_path' else 'label map'
            raise DataLayoutError(f'{dataset}: {kind} folder {_join(data_root, folder)} not found; {where}')
    if ann_file or need_ann_file:
        path = _join(data_root, ann_file)
        if not ann_file or not osp.isfile(path):
            raise DataLayoutError(f'{dataset}: split file {path if ann_file else "(ann_file not set)"} not found; '
                                  f'{where}')
        if not _has_entries(path):
            raise DataLayoutError(f'{dataset}: split file {path} lists no images; it must name one image per line '
                                  f'(its file name without the suffix)')


def _has_entries(path: str) -> bool:
    """Whether a split file has a non-blank line (read in blocks: split files can be long)."""
    with open(path, 'rb') as fh:
        for line in fh:
            if line.strip():
                return True
    return False


def check_dataset_config(dataset_cfg: dict) -> None:
    """:func:`check_layout` for a dataset config of any registered dataset (mmseg's own ones assert instead).

    The suffixes come from the config, else from the dataset class's constructor defaults.
    """
    from mmseg.registry import DATASETS

    from ..config.check import constructor_parameters

    cfg = dict(dataset_cfg)
    kind = cfg.get('type')
    cls = DATASETS.get(kind) if isinstance(kind, str) else kind
    defaults = {}
    if cls is not None:
        params = constructor_parameters(cls)[0]
        defaults = {k: p.default for k, p in params.items() if isinstance(p.default, str)}
    suffix = {k: cfg.get(k, defaults.get(k, d)) for k, d in (('img_suffix', '.jpg'), ('seg_map_suffix', '.png'))}
    name = getattr(cls, '__name__', str(kind))
    check_layout(name, cfg.get('data_root'), cfg.get('data_prefix'), cfg.get('ann_file') or '', **suffix)


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
