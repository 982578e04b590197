"""Region maps read from files: the layout in which CorrCLIP's authors publish their masks."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from mmseg.registry import MODELS

from ...exceptions import ConfigError
from .base import RegionGenerator


@MODELS.register_module()
class PrecomputedMasks(RegionGenerator):
    """Region maps from ``<folder>/<image stem>.npz``, array ``instance_mask`` (H0, W0), any integer dtype.

    CorrCLIP's published masks (huggingface.co/datasets/dk258/CorrCLIP, ``region_masks.zip``) unpack to one folder
    per benchmark: ``voc`` (VOC20/21), ``context`` (Context 59/60), ``coco`` (COCO-Stuff, COCO-Object), ``city``,
    ``ade``; give that folder here. Files are found by the stem of the sample's image path.

    Args:
        folder: the folder of ``.npz`` files.
    """

    cacheable = False  # the files are the cache
    needs_image = False

    def __init__(self, folder: str):
        super().__init__(cache_dir=False)
        self.folder = Path(folder).expanduser()

    def setting(self) -> dict:
        return dict(folder=str(self.folder))

    def generate(self, rgb: Optional[np.ndarray], meta: dict) -> np.ndarray:
        if not meta.get('img_path'):
            raise ConfigError('PrecomputedMasks finds masks by the image file name, but this image has no path '
                              '(an array); use a generator such as SAM2Masks for arrays')
        path = self.folder / f'{Path(meta["img_path"]).stem}.npz'
        if not path.is_file():
            hint = '' if self.folder.is_dir() else ' (the folder does not exist)'
            raise ConfigError(f'no region masks {path}{hint}: model.region_generator.folder must hold one '
                              f'<image stem>.npz per image with an array "instance_mask"')
        with np.load(path) as data:
            if 'instance_mask' not in data:
                raise ConfigError(f'{path} has no array "instance_mask" (it has {list(data.keys())})')
            return data['instance_mask']
