"""The evaluation metric: mmseg's IoU metric that also keeps the per-class figures (registered in mmseg's METRICS)."""
from __future__ import annotations

import math
import sys
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS

from .label_check import OutOfRangeLabels, check_label_shape


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """mmseg's IoUMetric (same numbers, same printed table) that also keeps the per-class IoU and accuracy.

    Attributes:
        per_class: after an evaluation (on the main process), ``{class name: {'IoU': %, 'Acc': %}}`` with None for
            classes that never occur in the ground truth nor the prediction (their IoU is NaN; mIoU skips them).
    """

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """IoUMetric's, after checking each ground truth: its size (one line naming the image otherwise) and its
        values (a warning, once per dataset, about values that are neither a class nor ignored)."""
        if not hasattr(self, 'label_values'):
            self.label_values = OutOfRangeLabels()
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            if 'gt_sem_seg' in sample and not self.format_only:
                label = sample['gt_sem_seg']['data'].squeeze()
                check_label_shape(sample['pred_sem_seg']['data'].squeeze(), label, sample)
                self.label_values.check(label, num_classes, self.ignore_index,
                                        sample.get('seg_map_path') or sample.get('img_path', 'an annotation'))
        super().process(data_batch, data_samples)

    @staticmethod
    def intersect_and_union(pred_label: torch.Tensor, label: torch.Tensor, num_classes: int, ignore_index: int
                            ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """IoUMetric's per-image class areas (intersection, union, prediction, ground truth; float32 (C,) each) from
        one joint histogram of (ground truth, prediction) pairs instead of three ``histc`` passes over the pixels.

        The areas are counts, exact in float32 below 2**24 pixels per class and image, so they equal mmseg's; images
        with labels outside 0..C-1 other than ``ignore_index`` take mmseg's own computation.
        """
        pred, gt = pred_label.reshape(-1).long(), label.reshape(-1).long()
        ignored = gt == ignore_index
        gt = gt.masked_fill(ignored, num_classes)  # ignored pixels go to an extra row, dropped below
        if gt.numel():
            (lo_pred, hi_pred), (lo_gt, hi_gt) = torch.aminmax(pred), torch.aminmax(gt)
            if min(int(lo_pred), int(lo_gt)) < 0 or int(hi_pred) >= num_classes or int(hi_gt) > num_classes:
                return IoUMetric.intersect_and_union(pred_label, label, num_classes, ignore_index)
        joint = torch.bincount(gt * num_classes + pred, minlength=(num_classes + 1) * num_classes)
        if int(joint[num_classes * num_classes:].sum()) != int(ignored.sum()):  # a label value C that is not ignored
            return IoUMetric.intersect_and_union(pred_label, label, num_classes, ignore_index)
        joint = joint[:num_classes * num_classes].reshape(num_classes, num_classes)  # rows: truth, columns: prediction
        area_intersect, area_pred, area_label = joint.diagonal(), joint.sum(0), joint.sum(1)
        area_union = area_pred + area_label - area_intersect
        return tuple(a.float().cpu() for a in (area_intersect, area_union, area_pred, area_label))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        label_values = getattr(self, 'label_values', None)
        summary = label_values.summary(len(self.dataset_meta['classes'])) if label_values is not None else None
        if summary and label_values.images > 1:
            print(f'warning: {summary}', file=sys.stderr, flush=True)
        metrics = super().compute_metrics(results)
        if not results:
            return metrics
        inter, union, pred, label = (sum(parts) for parts in zip(*results))
        scores = self.total_area_to_metrics(inter, union, pred, label, ['mIoU'], self.nan_to_num, self.beta)
        names = self.dataset_meta['classes']

        def pct(value) -> Optional[float]:
            value = float(value)
            return None if math.isnan(value) else round(value * 100, 2)

        self.per_class = {name: dict(IoU=pct(iou), Acc=pct(acc))
                          for name, iou, acc in zip(names, scores['IoU'], scores['Acc'])}
        return metrics
