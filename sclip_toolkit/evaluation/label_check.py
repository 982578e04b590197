"""Checks on the ground truth as the metric reads it: a label map of the image's size, and label values that are a
class or the ignore index. mmseg's IoUMetric fails on the first with a tensor-size error that names no file, and
scores the second silently (such pixels count against the predicted class but for no class)."""
from __future__ import annotations

import warnings
from typing import List, Mapping, Optional, Set

import torch

from ..exceptions import DataError


def check_label_shape(pred: torch.Tensor, label: torch.Tensor, meta: Mapping) -> None:
    """Raise a one-line DataError naming the image and its annotation when their sizes differ."""
    if tuple(pred.shape[-2:]) == tuple(label.shape[-2:]):
        return
    (ph, pw), (lh, lw) = pred.shape[-2:], label.shape[-2:]
    image, ann = meta.get('img_path', 'an image'), meta.get('seg_map_path', 'its annotation')
    raise DataError(f'{image} is {pw}x{ph} but its annotation {ann} is {lw}x{lh}: a label map must have its '
                    f'image\'s size (fix or remove this pair)')


def out_of_range(label: torch.Tensor, num_classes: int, ignore_index: int) -> List[int]:
    """The values of ``label`` that are neither a class (0..num_classes-1) nor ``ignore_index``."""
    if label.numel() == 0:
        return []
    low, high = torch.aminmax(label)
    if int(low) >= 0 and (int(high) < num_classes or int(high) == ignore_index and
                          int(label.masked_fill(label == ignore_index, 0).max()) < num_classes):
        return []
    values = torch.unique(label[(label < 0) | (label >= num_classes)])
    return [int(v) for v in values.tolist() if int(v) != ignore_index]


class OutOfRangeLabels:
    """Warns once (per metric, i.e. per dataset) about annotation values that are neither a class nor ignored,
    naming the values and the first image; :meth:`summary` lists every value and image count at the end."""

    def __init__(self):
        self.values: Set[int] = set()
        self.images = 0
        self.first: Optional[str] = None

    def check(self, label: torch.Tensor, num_classes: int, ignore_index: int, where: str) -> None:
        values = out_of_range(label, num_classes, ignore_index)
        if not values:
            return
        self.images += 1
        if self.first is None:
            self.first = where
            warnings.warn(f'{where}: annotation values {_listed(values)} are neither a class (0..{num_classes - 1}) '
                          f'nor ignored ({ignore_index}); such pixels are scored as wrong for the predicted class. '
                          f'Check the dataset\'s label format (e.g. reduce_zero_label) or set them to '
                          f'{ignore_index}', UserWarning, stacklevel=2)
        self.values.update(values)

    def summary(self, num_classes: int) -> Optional[str]:
        """'annotation values 21, 254 (outside 0..20 and not ignored) in 3 images, first ...', or None."""
        if not self.values:
            return None
        return (f'annotation values {_listed(sorted(self.values))} (neither a class 0..{num_classes - 1} nor '
                f'ignored) in {self.images} image{"s" if self.images != 1 else ""}, first {self.first}')


def _listed(values: List[int], limit: int = 12) -> str:
    more = f' and {len(values) - limit} more' if len(values) > limit else ''
    return ', '.join(str(v) for v in values[:limit]) + more
