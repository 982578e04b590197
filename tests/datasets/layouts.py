"""Tiny datasets in the real on-disk layouts, generated from a config's dataset entry (no downloads)."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
from mmseg.registry import DATASETS
from PIL import Image

# Datasets whose label maps need more than 8 bits (uint16 .tif).
WIDE_LABELS = ('ADE20K847Dataset', 'PascalContext459Dataset')
# Datasets whose label maps are palette PNGs (the VOC masks).
PALETTE_LABELS = ('PascalVOCDataset', 'PascalVOC20Dataset')


@dataclass
class Layout:
    """What was written: the root to use as data_root and the raw label map of every image, by stem."""
    root: Path
    labels: Dict[str, np.ndarray] = field(default_factory=dict)


def _default(cls, name: str, fallback: str) -> str:
    for klass in cls.__mro__:  # the first __init__ that declares the argument
        param = inspect.signature(klass.__init__).parameters.get(name)
        if param is not None and param.default is not inspect.Parameter.empty:
            return param.default
    return fallback


def suffixes(dataset_cfg: dict) -> Tuple[str, str]:
    """(image suffix, label-map suffix) of a dataset config, from the config or the class defaults."""
    cls = DATASETS.get(dataset_cfg['type'])
    return (dataset_cfg.get('img_suffix', _default(cls, 'img_suffix', '.jpg')),
            dataset_cfg.get('seg_map_suffix', _default(cls, 'seg_map_suffix', '.png')))


def make_layout(root: Path, dataset_cfg: dict, num_images: int = 2, size: Tuple[int, int] = (40, 56),
                seed: int = 0) -> Layout:
    """Write ``num_images`` random images and label maps where ``dataset_cfg`` (a test_dataloader.dataset entry)
    looks for them, with ``root`` as data_root; an ``ann_file`` split list is written when the config names one.

    Raw labels cover the dataset's label range (for reduce_zero_label datasets 0..C, 0 being ignored; for the wide
    datasets values above 255) plus a border of 255.
    """
    cls = DATASETS.get(dataset_cfg['type'])
    num_classes = len(cls.METAINFO['classes'])
    reduce_zero = dataset_cfg.get('reduce_zero_label', _default(cls, 'reduce_zero_label', False))
    img_suffix, seg_suffix = suffixes(dataset_cfg)
    prefix = dataset_cfg.get('data_prefix', {})
    sub = 'frankfurt/' if dataset_cfg['type'] == 'CityscapesDataset' else ''  # Cityscapes: one folder per city
    rng = np.random.default_rng(seed)
    layout = Layout(Path(root))
    stems: List[str] = []
    for i in range(num_images):
        stem = f'{sub}img_{i:03d}'
        img_path = layout.root / prefix.get('img_path', '') / f'{stem}{img_suffix}'
        seg_path = layout.root / prefix.get('seg_map_path', '') / f'{stem}{seg_suffix}'
        img_path.parent.mkdir(parents=True, exist_ok=True)
        seg_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(img_path)
        high = num_classes + 1 if reduce_zero else num_classes
        label = rng.integers(0, high, size)
        label[0, :] = 255 if dataset_cfg['type'] not in WIDE_LABELS else 65535
        label[1, :3] = high - 1  # the largest label always occurs
        if dataset_cfg['type'] in WIDE_LABELS:
            Image.fromarray(label.astype(np.uint16)).save(seg_path)  # 16-bit TIFF, as CAT-Seg's maps
        elif dataset_cfg['type'] in PALETTE_LABELS:
            png = Image.fromarray(label.astype(np.uint8)).convert('P')  # indices + a colour table, as VOC's masks
            png.putpalette(np.random.default_rng(1).integers(0, 256, 768, dtype=np.uint8).tolist())
            png.save(seg_path)
        else:
            Image.fromarray(label.astype(np.uint8)).save(seg_path)
        layout.labels[stem] = label
        stems.append(stem)
    ann_file = dataset_cfg.get('ann_file')
    if ann_file:
        path = layout.root / ann_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('\n'.join(stems) + '\n')
    return layout
