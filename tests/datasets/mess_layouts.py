"""Tiny MESS datasets in the layouts MESS's preparation writes (folders and file endings of the catalog)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

import numpy as np
from PIL import Image

from sclip_toolkit.datasets.mess_catalog import MESS_DATASETS


def file_name(stem: str, suffix: str) -> str:
    """The file MESS's matching expects: 'a.png' for 'png', 'a_rgb_anon.png' for '_rgb_anon.png', 'a_image.png' for
    'image.png' (CWFID's '001_image.png')."""
    if suffix[0] in '._':
        return stem + suffix
    return f'{stem}.{suffix}' if suffix.isalnum() else f'{stem}_{suffix}'


def make_mess_layout(dataset_dir: Path, key: str, num_images: int = 2, size: Tuple[int, int] = (24, 32),
                     seed: int = 0, extras: bool = True) -> Dict[str, np.ndarray]:
    """Write ``num_images`` random images with label maps for the MESS set ``key`` under ``dataset_dir`` (MESS's
    dataset directory); with ``extras`` also an image without a map, two maps without an image and a file in a
    sub-folder (which MESS does not read). Returns the label maps by image path.

    Labels cover 0..C-1 (the largest always occurs) and 255 (ignored) on the first row.
    """
    spec = MESS_DATASETS[key]
    rng = np.random.default_rng(seed)
    img_dir, ann_dir = dataset_dir / spec.folder / spec.img_dir, dataset_dir / spec.folder / spec.ann_dir
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    labels = {}
    for i in range(num_images + extras):
        stem = f'{i:03d}'
        img_path = img_dir / file_name(stem, spec.img_suffix)
        image_format = 'PNG' if 'png' in spec.img_suffix.lower() else 'JPEG'
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(img_path, format=image_format)
        if i == num_images:  # an image without a label map: left out
            continue
        label = rng.integers(0, spec.num_classes, size)
        label[0, :] = 255
        label[1, :2] = spec.num_classes - 1
        Image.fromarray(label.astype(np.uint8)).save(ann_dir / file_name(stem, spec.seg_suffix), format='PNG')
        labels[str(img_path)] = label
    if not extras:
        return labels
    orphan = np.zeros(size, dtype=np.uint8)
    for stem in ('998', '999'):  # maps without an image (two, so MESS too pairs by name rather than by order)
        Image.fromarray(orphan).save(ann_dir / file_name(stem, spec.seg_suffix), format='PNG')
    nested = img_dir / 'nested'
    nested.mkdir(exist_ok=True)
    Image.fromarray(orphan).save(nested / file_name('000', spec.img_suffix), format='PNG')
    return labels
