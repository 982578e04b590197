"""MESS's metrics (its ``MESSSemSegEvaluator``): mIoU with ignore label 255, and beside it the classes-of-interest
mIoU, frequency-weighted IoU, pixel and class accuracies, and for two-class datasets specificity and sensitivity.

MESS counts a confusion matrix whose rows are predictions and columns ground truth, with an extra row and column for
"no class" (ignored ground truth, or a prediction outside the classes). Per class c: ``tp`` is the diagonal, the
ground-truth count ``pos_gt`` is column c over every row (predictions outside the classes included), the prediction
count ``pos_pred`` is row c over the scored columns. Then ``acc = tp / pos_gt`` where ``pos_gt > 0``,
``iou = tp / (pos_gt + pos_pred - tp)`` where ``pos_gt + pos_pred > 0``, and

* mIoU, mACC: the means of the valid IoUs / accuracies; pACC: sum(tp) / sum(pos_gt);
* fwIoU: the IoUs weighted by ``pos_gt / sum(pos_gt)``;
* CoI-mIoU: sum of the IoUs of the classes of interest with ground truth, over the number of those with a valid IoU;
  CoI-mACC likewise over accuracies;
* two classes: Specificity = acc of class 0, Sensitivity = acc of class 1.

These counts are the per-image class areas mmseg's IoUMetric already gathers (intersection, prediction and
ground-truth areas over the pixels that are not ignored), so the metric keeps IoUMetric's processing (and its
distributed gathering) and counts them as int64.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS

from ..exceptions import DataError

__all__ = ['MESSMetric', 'mess_scores']


def mess_scores(tp: np.ndarray, pos_gt: np.ndarray, pos_pred: np.ndarray,
                classes_of_interest: Optional[Sequence[int]] = None) -> Dict[str, object]:
    """MESS's metrics (percent) from the per-class counts (see the module docstring).

    Returns:
        'mIoU', 'CoI-mIoU', 'fwIoU', 'mACC', 'pACC', 'CoI-mACC' (floats), 'Specificity' and 'Sensitivity' for two
        classes, and 'IoU' / 'ACC' (arrays, NaN where undefined).
    """
    tp, pos_gt, pos_pred = (np.asarray(a, dtype=np.float64) for a in (tp, pos_gt, pos_pred))
    num_classes = len(tp)
    coi = np.zeros(num_classes, dtype=bool)
    coi[list(range(num_classes) if classes_of_interest is None else classes_of_interest)] = True
    acc, iou = np.full(num_classes, np.nan), np.full(num_classes, np.nan)
    acc_valid, iou_valid = pos_gt > 0, (pos_gt + pos_pred) > 0
    acc[acc_valid] = tp[acc_valid] / pos_gt[acc_valid]
    iou[iou_valid] = tp[iou_valid] / (pos_gt + pos_pred - tp)[iou_valid]
    weights = pos_gt / pos_gt.sum() if pos_gt.sum() else np.zeros(num_classes)

    def ratio(num: float, den: float) -> float:
        return 100 * num / den if den else math.nan

    scores: Dict[str, object] = {
        'mIoU': ratio(iou[iou_valid].sum(), iou_valid.sum()),
        'CoI-mIoU': ratio(iou[coi & acc_valid].sum(), (coi & iou_valid).sum()),
        'fwIoU': 100 * float((iou[acc_valid] * weights[acc_valid]).sum()),
        'mACC': ratio(acc[acc_valid].sum(), acc_valid.sum()),
        'pACC': ratio(tp.sum(), pos_gt.sum()),
        'CoI-mACC': ratio(acc[coi & acc_valid].sum(), (coi & acc_valid).sum()),
    }
    if num_classes == 2:
        scores['Specificity'], scores['Sensitivity'] = 100 * acc[0], 100 * acc[1]
    scores['IoU'], scores['ACC'] = 100 * iou, 100 * acc
    return scores


@METRICS.register_module()
class MESSMetric(IoUMetric):
    """MESS's evaluator for the MESS datasets; the classes of interest come from the dataset's metainfo
    (:class:`~sclip_toolkit.datasets.MESSDataset`), else every class counts.

    Attributes:
        per_class: after an evaluation, ``{class name: {'IoU': %, 'Acc': %}}`` (None where undefined), as
            metrics.json records it.
    """

    def __init__(self, ignore_index: int = 255, classes_of_interest: Optional[Sequence[int]] = None,
                 **kwargs) -> None:
        super().__init__(ignore_index=ignore_index, iou_metrics=['mIoU'], **kwargs)
        self.classes_of_interest = None if classes_of_interest is None else list(classes_of_interest)
        self.per_class: Optional[dict] = None

    @staticmethod
    def intersect_and_union(pred_label: torch.Tensor, label: torch.Tensor, num_classes: int, ignore_index: int):
        """Per-image int64 counts (intersection, union, prediction, ground truth; (C,) each) over the pixels whose
        label is not ``ignore_index``; predictions outside 0..C-1 count for the ground truth only, as in MESS."""
        pred, gt = pred_label.reshape(-1).long(), label.reshape(-1).long()
        keep = gt != ignore_index
        pred, gt = pred[keep], gt[keep]
        if gt.numel() and (int(gt.min()) < 0 or int(gt.max()) >= num_classes):
            bad = int(gt.max()) if int(gt.max()) >= num_classes else int(gt.min())
            raise DataError(f'label value {bad} is neither a class (0..{num_classes - 1}) nor the ignore index '
                            f'{ignore_index}')
        area_label = torch.bincount(gt, minlength=num_classes)
        in_range = (pred >= 0) & (pred < num_classes)
        area_pred = torch.bincount(pred[in_range], minlength=num_classes)
        area_intersect = torch.bincount(gt[pred == gt], minlength=num_classes)
        areas = (area_intersect, area_pred + area_label - area_intersect, area_pred, area_label)
        return tuple(a.cpu() for a in areas)  # gathered and summed on the CPU, whatever device predicted

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        try:
            super().process(data_batch, data_samples)
        except DataError as exc:  # name the image whose label map is wrong
            where = [s.get('seg_map_path') or s.get('img_path') for s in data_samples]
            raise DataError(f'{", ".join(map(str, where))}: {exc}') from None

    def compute_metrics(self, results: list) -> Dict[str, float]:
        names: List[str] = list(self.dataset_meta['classes'])
        totals = [np.sum([np.asarray(r[i], dtype=np.int64) for r in results], axis=0) for i in range(4)]
        inter, _, pred, label = totals
        coi = self.classes_of_interest
        if coi is None:
            coi = self.dataset_meta.get('classes_of_interest')
        scores = mess_scores(inter, label, pred, coi)
        iou, acc = scores.pop('IoU'), scores.pop('ACC')

        def pct(value: float) -> Optional[float]:
            return None if math.isnan(value) else round(float(value), 2)

        self.per_class = {name: dict(IoU=pct(i), Acc=pct(a)) for name, i, a in zip(names, iou, acc)}
        rows = [f'{name:<30} {pct(i)!s:>8} {pct(a)!s:>8}' for name, i, a in zip(names, iou, acc)]
        summary = ', '.join(f'{k} {v:.2f}' for k, v in scores.items())
        print_log('per class results (MESS):\n' + f'{"class":<30} {"IoU":>8} {"Acc":>8}\n' + '\n'.join(rows) +
                  f'\n{summary}', logger='current')
        return {k: float(v) for k, v in scores.items()}
