"""The MESS datasets in mmseg 1.x: MESS's own adapter targets mmseg 0.x and detectron2, so this is the toolkit's.

Images and label maps are paired as MESS's ``load_sem_seg`` pairs them: the files of the two folders (no
sub-folders) whose names end in the dataset's endings, matched by the name before the ending; an image without a
label map (or a map without an image) is left out, as MESS uses the intersection. (MESS pairs the two sorted lists
by position when they are equally long; on a prepared dataset the names match, so both pairings agree.)
"""
from __future__ import annotations

import os
import os.path as osp
from typing import List, Optional

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .base import DataLayoutError, check_layout, names_from_file
from .mess_catalog import mess_spec

__all__ = ['MESSDataset', 'mess_pairs']


def _stems(folder: str, suffix: str) -> dict:
    return {name[:-len(suffix)]: osp.join(folder, name) for name in os.listdir(folder)
            if name.endswith(suffix) and osp.isfile(osp.join(folder, name))}


def mess_pairs(img_dir: str, ann_dir: str, img_suffix: str, seg_suffix: str) -> List[tuple]:
    """(image path, label-map path) of every image with a map, sorted by name, as MESS pairs them."""
    images, maps = _stems(img_dir, img_suffix), _stems(ann_dir, seg_suffix)
    return [(images[stem], maps[stem]) for stem in sorted(images.keys() & maps.keys())]


@DATASETS.register_module()
class MESSDataset(BaseSegDataset):
    """One MESS evaluation set (``mess_name``: the toolkit's name, e.g. 'floodnet', 'paxray_lungs').

    The classes are MESS's (``configs/classnames/cls_mess_<name>.txt``, written from the package); the metainfo also
    carries MESS's ``classes_of_interest`` and ``background_class`` for :class:`MESSMetric`. Label 255 is ignored;
    no label is shifted (``reduce_zero_label`` stays False: MESS scores class 0).

    Args:
        mess_name: which MESS set (sclip_toolkit.datasets.mess_catalog.MESS_DATASETS).
        img_suffix / seg_map_suffix: the endings MESS matches (default: the catalog's).
        data_prefix: ``img_path`` and ``seg_map_path`` under ``data_root`` (default: the catalog's folders).
    """
    METAINFO: dict = {}

    def __init__(self, mess_name: str, img_suffix: Optional[str] = None, seg_map_suffix: Optional[str] = None,
                 data_prefix: Optional[dict] = None, **kwargs) -> None:
        spec = mess_spec(mess_name)
        self.spec = spec
        img_suffix = spec.img_suffix if img_suffix is None else img_suffix
        seg_map_suffix = spec.seg_suffix if seg_map_suffix is None else seg_map_suffix
        data_prefix = dict(data_prefix or dict(img_path=spec.img_dir, seg_map_path=spec.ann_dir))
        if kwargs.pop('reduce_zero_label', False):
            from ..exceptions import ConfigError
            raise ConfigError(f'MESSDataset({spec.key}): reduce_zero_label must stay False (MESS scores class 0)')
        metainfo = dict(classes=names_from_file(f'cls_mess_{spec.key}.txt', spec.num_classes),
                        classes_of_interest=list(spec.classes_of_interest), background_class=spec.background_class,
                        **(kwargs.pop('metainfo', None) or {}))
        check_layout(f'MESSDataset({spec.key})', kwargs.get('data_root'), data_prefix, img_suffix=img_suffix,
                     seg_map_suffix=seg_map_suffix)
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, data_prefix=data_prefix,
                         metainfo=metainfo, reduce_zero_label=False, **kwargs)

    def load_data_list(self) -> List[dict]:
        """MESS's pairing (see the module docstring); an empty result is a one-line error naming the folders."""
        img_dir, ann_dir = self.data_prefix.get('img_path', ''), self.data_prefix.get('seg_map_path', '')
        pairs = mess_pairs(img_dir, ann_dir, self.img_suffix, self.seg_map_suffix)
        if not pairs:
            raise DataLayoutError(
                f'MESSDataset({self.spec.key}): no image in {img_dir} (*{self.img_suffix}) has a label map in '
                f'{ann_dir} (*{self.seg_map_suffix}); prepare the dataset with tools/prepare_mess.py '
                f'--dataset-dir <folder> --only {self.spec.key} (docs/evaluation.md, "MESS")')
        return [dict(img_path=img, seg_map_path=seg, label_map=self.label_map, reduce_zero_label=False,
                     seg_fields=[]) for img, seg in pairs]
