"""The evaluation datasets of the references that mmseg lacks (docs/methods.md), registered in mmseg's DATASETS.

Class names and palettes are only for display: the metric needs the number of classes; the text queries come from
the class-name files in configs/classnames/. Every dataset checks its folders up front and says what is missing.
"""
from __future__ import annotations

from mmseg.datasets import (BaseSegDataset, COCOStuffDataset, PascalContextDataset, PascalContextDataset59,
                            PascalVOCDataset)
from mmseg.registry import DATASETS

from ..exceptions import ConfigError
from .base import check_layout, names_from_file

__all__ = ['PascalVOC20Dataset', 'PascalContext60Dataset', 'PascalContext59Dataset', 'COCOObjectDataset',
           'ADE20K847Dataset', 'PascalContext459Dataset']


@DATASETS.register_module()
class PascalVOC20Dataset(BaseSegDataset):
    """PASCAL VOC 2012 without the background class (20 classes).

    The VOC masks store background as 0, so ``reduce_zero_label=True`` turns it into the ignore index and shifts
    the 20 object classes to 0..19: background pixels are not scored.
    """
    METAINFO = dict(classes=PascalVOCDataset.METAINFO['classes'][1:], palette=PascalVOCDataset.METAINFO['palette'][1:])

    def __init__(self, ann_file: str, img_suffix: str = '.jpg', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = True, **kwargs) -> None:
        check_layout(type(self).__name__, kwargs.get('data_root'), kwargs.get('data_prefix'), ann_file, True,
                     img_suffix, seg_map_suffix)
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)


@DATASETS.register_module()
class PascalContext60Dataset(PascalContextDataset):
    """PASCAL Context with background (60 classes; 0 = background is a scored class, never reduced)."""

    def __init__(self, ann_file: str, img_suffix: str = '.jpg', seg_map_suffix: str = '.png', **kwargs) -> None:
        if kwargs.pop('reduce_zero_label', False):
            raise ConfigError('PascalContext60Dataset scores the background class 0, so reduce_zero_label must stay '
                             'False; use PascalContext59Dataset to ignore background')
        check_layout(type(self).__name__, kwargs.get('data_root'), kwargs.get('data_prefix'), ann_file, True,
                     img_suffix, seg_map_suffix)
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=False, **kwargs)


@DATASETS.register_module()
class PascalContext59Dataset(PascalContextDataset59):
    """PASCAL Context without background (59 classes): label 0 becomes the ignore index."""

    def __init__(self, ann_file: str, img_suffix: str = '.jpg', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = True, **kwargs) -> None:
        check_layout(type(self).__name__, kwargs.get('data_root'), kwargs.get('data_prefix'), ann_file, True,
                     img_suffix, seg_map_suffix)
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)


@DATASETS.register_module()
class COCOObjectDataset(BaseSegDataset):
    """COCO-Object: background + the 80 COCO thing classes (81), from COCO-Stuff-164k by datasets/cvt_coco_object.py.

    Stuff classes and unlabelled pixels are background (label 0) in the converted maps, as in GroupViT/TCL.
    """
    METAINFO = dict(classes=('background',) + COCOStuffDataset.METAINFO['classes'][:80],
                    palette=[[0, 0, 0]] + COCOStuffDataset.METAINFO['palette'][:80])

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '_instanceTrainIds.png', **kwargs) -> None:
        check_layout(type(self).__name__, kwargs.get('data_root'), kwargs.get('data_prefix'),
                     kwargs.get('ann_file', ''), img_suffix=img_suffix, seg_map_suffix=seg_map_suffix)
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)


@DATASETS.register_module()
class ADE20K847Dataset(BaseSegDataset):
    """ADE20K-Full with 847 classes (CAT-Seg's detectron2 layout), uint16 ``.tif`` label maps.

    Load the maps with ``LoadAnnotationsU16``: mmseg's loader casts to uint8 and would wrap labels above 255.
    ``ann_file`` is optional (without it every image of the folder is used).
    """
    METAINFO = dict(classes=names_from_file('cls_ade20k847__proxyclip.txt', 847))

    def __init__(self, ann_file: str = '', img_suffix: str = '.jpg', seg_map_suffix: str = '.tif',
                 reduce_zero_label: bool = False, **kwargs) -> None:
        check_layout(type(self).__name__, kwargs.get('data_root'), kwargs.get('data_prefix'), ann_file,
                     img_suffix=img_suffix, seg_map_suffix=seg_map_suffix)
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)


@DATASETS.register_module()
class PascalContext459Dataset(BaseSegDataset):
    """PASCAL Context with all 459 classes (CAT-Seg's ``pc459_val`` uint16 ``.tif`` maps); use LoadAnnotationsU16."""
    METAINFO = dict(classes=names_from_file('cls_context459__proxyclip.txt', 459))

    def __init__(self, ann_file: str, img_suffix: str = '.jpg', seg_map_suffix: str = '.tif',
                 reduce_zero_label: bool = False, **kwargs) -> None:
        check_layout(type(self).__name__, kwargs.get('data_root'), kwargs.get('data_prefix'), ann_file, True,
                     img_suffix, seg_map_suffix)
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)
