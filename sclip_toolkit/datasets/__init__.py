"""Datasets and transforms mmseg lacks (importing registers them in mmseg's DATASETS / TRANSFORMS)."""
from .catalog import (ADE20K847Dataset, COCOObjectDataset, PascalContext59Dataset, PascalContext60Dataset,
                      PascalContext459Dataset, PascalVOC20Dataset)
from .loading import ImageLoadError, LoadImageChecked
from .mess import MESSDataset
from .transforms import LoadAnnotationsU16

__all__ = ['ADE20K847Dataset', 'COCOObjectDataset', 'PascalContext59Dataset', 'PascalContext60Dataset',
           'PascalContext459Dataset', 'PascalVOC20Dataset', 'LoadAnnotationsU16', 'ImageLoadError',
           'LoadImageChecked', 'MESSDataset']
