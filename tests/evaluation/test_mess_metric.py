"""MESSMetric equals MESS's evaluator: the formulas of mess/evaluation/sem_seg_evaluation.py, computed here on the
confusion matrix detectron2's SemSegEvaluator accumulates (rows: prediction, columns: ground truth, the last of each
for "no class")."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sclip_toolkit.evaluation.mess_metric import MESSMetric, mess_scores
from sclip_toolkit.exceptions import DataError


def mess_reference(preds, gts, num_classes, ignore_label=255, classes_of_interest=None):
    """MESS's numbers, step by step as its evaluator computes them (detectron2's accumulation included)."""
    conf = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    for pred, gt in zip(preds, gts):
        gt = gt.copy()
        gt[gt == ignore_label] = num_classes
        conf += np.bincount((num_classes + 1) * pred.reshape(-1) + gt.reshape(-1),
                            minlength=conf.size).reshape(conf.shape)
    coi = np.ones(num_classes, dtype=bool) if classes_of_interest is None else \
        np.bincount(classes_of_interest, minlength=num_classes).astype(bool)
    acc, iou = np.full(num_classes, np.nan), np.full(num_classes, np.nan)
    tp = conf.diagonal()[:-1].astype(float)
    pos_gt = np.sum(conf, axis=0).astype(float)[:-1]
    class_weights = pos_gt / np.sum(pos_gt)
    pos_pred = np.sum(conf[:-1, :-1], axis=1).astype(float)
    acc_valid = pos_gt > 0
    acc[acc_valid] = tp[acc_valid] / pos_gt[acc_valid]
    iou_valid = (pos_gt + pos_pred) > 0
    union = pos_gt + pos_pred - tp
    iou[iou_valid] = tp[iou_valid] / union[iou_valid]
    res = {'mIoU': 100 * np.sum(iou[iou_valid]) / np.sum(iou_valid),
           'CoI-mIoU': 100 * np.sum(iou[coi & acc_valid]) / np.sum(coi & iou_valid),
           'fwIoU': 100 * np.sum(iou[acc_valid] * class_weights[acc_valid]),
           'mACC': 100 * np.sum(acc[acc_valid]) / np.sum(acc_valid),
           'pACC': 100 * np.sum(tp) / np.sum(pos_gt),
           'CoI-mACC': 100 * np.sum(acc[coi & acc_valid]) / np.sum(coi & acc_valid)}
    if num_classes == 2:
        res['Specificity'], res['Sensitivity'] = 100 * acc[0], 100 * acc[1]
    return res, 100 * iou, 100 * acc


def _run_metric(preds, gts, num_classes, coi):
    metric = MESSMetric()
    metric.dataset_meta = dict(classes=[f'c{i}' for i in range(num_classes)], classes_of_interest=coi)
    for pred, gt in zip(preds, gts):
        metric.process({}, [dict(pred_sem_seg=dict(data=torch.from_numpy(pred)[None]),
                                 gt_sem_seg=dict(data=torch.from_numpy(gt)[None]))])
    return metric.evaluate(len(preds)), metric


@pytest.mark.parametrize('num_classes, coi, seed', [(2, [1], 0), (2, [1], 1), (3, [1], 2), (10, [1, 3], 3),
                                                    (6, [0, 1, 2, 3, 4], 4)])
def test_metrics_equal_mess_formulas(num_classes, coi, seed):
    rng = np.random.default_rng(seed)
    preds, gts = [], []
    for _ in range(3):
        gt = rng.integers(0, num_classes, (17, 23))
        gt[rng.random(gt.shape) < 0.1] = 255  # ignored
        if num_classes > 2:
            gt[gt == num_classes - 1] = 0  # a class that never occurs in the ground truth, only in predictions
        pred = rng.integers(0, num_classes + 1, (17, 23))  # num_classes: MESS's "no class" prediction
        preds.append(pred)
        gts.append(gt)
    expected, iou, acc = mess_reference(preds, gts, num_classes, classes_of_interest=coi)
    results, metric = _run_metric(preds, gts, num_classes, coi)
    assert set(results) == set(expected)
    for key, value in expected.items():
        assert results[key] == pytest.approx(value, abs=1e-9), key
    for (name, cell), i, a in zip(metric.per_class.items(), iou, acc):
        assert cell['IoU'] == (None if np.isnan(i) else round(i, 2)), name
        assert cell['Acc'] == (None if np.isnan(a) else round(a, 2)), name


def test_binary_metrics_on_a_hand_count():
    """Two classes, 4 background and 6 foreground pixels: 3 and 4 of them found, 2 pixels ignored."""
    gt = np.array([[0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 255, 255]])
    pred = np.array([[0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0]])
    scores = mess_scores(*(np.array(v) for v in ([3, 4], [4, 6], [5, 5])), classes_of_interest=[1])
    results, _ = _run_metric([pred], [gt], 2, [1])
    assert results['Specificity'] == pytest.approx(75.0) and results['Sensitivity'] == pytest.approx(400 / 6)
    assert results['CoI-mIoU'] == pytest.approx(100 * 4 / 7)  # class 1: 4 / (6 + 5 - 4)
    assert results['mIoU'] == pytest.approx(100 * (3 / 6 + 4 / 7) / 2)
    assert scores['Sensitivity'] == pytest.approx(results['Sensitivity'])


def test_a_label_outside_the_classes_names_the_file():
    metric = MESSMetric()
    metric.dataset_meta = dict(classes=['a', 'b'])
    sample = dict(pred_sem_seg=dict(data=torch.zeros(1, 2, 2, dtype=torch.long)),
                  gt_sem_seg=dict(data=torch.full((1, 2, 2), 7)), seg_map_path='maps/x.png')
    with pytest.raises(DataError, match=r'maps/x.png: label value 7 is neither a class \(0..1\) nor the ignore '
                                        r'index 255'):
        metric.process({}, [sample])
