"""Evaluation plumbing without a dataset: the progress bar under torchrun, --save-preds, --device."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from sclip_toolkit.apis.evaluate import prepare_eval_config, select_device
from sclip_toolkit.evaluation import EvalProgressHook


def _runner(rank: int, world_size: int, share: int, total: int):
    loader = SimpleNamespace(dataset=list(range(total)), sampler=list(range(share)))
    return SimpleNamespace(rank=rank, world_size=world_size, test_dataloader=loader)


def test_progress_under_torchrun_counts_rank_0s_share_and_says_so():
    hook = EvalProgressHook('sclip_voc21')
    hook.before_test_epoch(_runner(0, 2, share=725, total=1449))
    assert hook._bar.total == 725 and hook._bar.desc == 'sclip_voc21 [rank 0 of 2: its 725 of the 1449 images]'
    hook.after_test_iter(None, 0, outputs=[object(), object()])  # counts images, not batches
    assert hook._bar.n == 2
    hook.after_test_epoch(None)
    single = EvalProgressHook('x')
    single.before_test_epoch(_runner(0, 1, share=1449, total=1449))
    assert single._bar.total == 1449 and single._bar.desc == 'x'
    single.after_test_epoch(None)
    other = EvalProgressHook('x')
    other.before_test_epoch(_runner(1, 2, share=724, total=1449))
    assert other._bar is None  # only the main process draws


def test_save_preds_selects_the_resumable_loop_and_leaves_the_model_alone(tmp_path):
    cfg = prepare_eval_config('sclip_voc21', work_dir=str(tmp_path), save_preds=str(tmp_path / 'p'), progress=False)
    assert cfg.test_cfg == dict(type='ResumableTestLoop', prediction_dir=str(tmp_path / 'p'))
    assert 'prediction_dir' not in cfg.model
    cfg = prepare_eval_config('sclip_voc21', work_dir=str(tmp_path), show_dir=str(tmp_path / 'show'))
    assert cfg.test_cfg.type == 'TestLoop'
    assert dict(type='ShowDirHook', out_dir=str(tmp_path / 'show')) in cfg.custom_hooks


def test_device_choices():
    assert select_device(None) is None and select_device('cpu') == torch.device('cpu')
    with pytest.raises(ValueError, match='--device gpu0: not a device; use --device cpu, cuda or cuda:N'):
        select_device('gpu0')
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match='--device cuda:1 was given but CUDA is not available here; use --device '
                                             'cpu'):
            select_device('cuda:1')
    else:
        with pytest.raises(ValueError, match='--device cuda:1: under torchrun'):
            select_device('cuda:1', launcher='pytorch')


@pytest.mark.parametrize('num_classes, ignore_index, dtype', [(21, 255, torch.uint8), (150, 255, torch.int64),
                                                              (171, 0, torch.int64), (847, 65535, torch.int64)])
def test_class_areas_equal_mmsegs(num_classes, ignore_index, dtype):
    """The joint-histogram areas equal IoUMetric's three histc passes, ignored pixels, out-of-range values and
    images with no valid pixel included."""
    from mmseg.evaluation import IoUMetric

    from sclip_toolkit.evaluation import PerClassIoUMetric

    gen = torch.Generator().manual_seed(num_classes)
    pred = torch.randint(0, num_classes, (37, 53), generator=gen)
    label = torch.randint(0, num_classes, (37, 53), generator=gen)
    label[:4] = ignore_index
    pred[:2] = num_classes + 3  # out of range where the ground truth is ignored: mmseg does not count them
    stray = label.clone()
    stray[5, :3] = num_classes  # a label value that is neither a class nor ignored: counted nowhere by mmseg
    cases = [(pred, label), (pred.clamp(max=num_classes - 1), label), (pred.clamp(max=num_classes - 1), stray),
             (pred, torch.full_like(label, ignore_index)), (pred[:0], label[:0])]
    for p, g in cases:
        p, g = p.to(dtype), g.to(dtype)  # IoUMetric.process casts the ground truth to the prediction's dtype
        want = IoUMetric.intersect_and_union(p, g, num_classes, ignore_index)
        got = PerClassIoUMetric.intersect_and_union(p, g, num_classes, ignore_index)
        for a, b in zip(want, got):
            assert a.dtype == b.dtype == torch.float32 and torch.equal(a, b)


def _metric(num_classes: int = 3):
    from sclip_toolkit.evaluation.metrics import PerClassIoUMetric

    metric = PerClassIoUMetric()
    metric.dataset_meta = dict(classes=tuple(f'c{i}' for i in range(num_classes)))
    return metric


def _sample(pred, label, name='img.jpg'):
    return dict(pred_sem_seg=dict(data=pred[None]), gt_sem_seg=dict(data=label[None]), img_path=f'/d/{name}',
                seg_map_path=f'/d/{name[:-4]}.png')


def test_an_annotation_of_another_size_names_the_image():
    """Issue 22, case 7: mmseg fails with a tensor-size RuntimeError that names no image."""
    from sclip_toolkit.exceptions import DataError

    metric = _metric()
    with pytest.raises(DataError) as err:
        metric.process({}, [_sample(torch.zeros(4, 6, dtype=torch.long), torch.zeros(6, 4, dtype=torch.long))])
    assert str(err.value) == ('/d/img.jpg is 6x4 but its annotation /d/img.png is 4x6: a label map must have its '
                              "image's size (fix or remove this pair)")


def test_annotation_values_outside_the_classes_are_warned_once_with_the_values(capsys):
    """Issue 22, case 11: values that are neither a class nor 255 were scored without a word."""
    import warnings

    from sclip_toolkit.evaluation.label_check import out_of_range

    label = torch.tensor([[0, 1, 2, 255], [7, 9, 255, 1]])
    assert out_of_range(label, 3, 255) == [7, 9] and out_of_range(label.clamp(max=2), 3, 255) == []
    assert out_of_range(torch.tensor([[0, 255]]), 3, 255) == [] and out_of_range(torch.tensor([[-1, 0]]), 3, 255) == [-1]
    metric = _metric()
    pred = torch.zeros(2, 4, dtype=torch.long)
    with pytest.warns(UserWarning, match=r'/d/a.png: annotation values 7, 9 are neither a class \(0..2\) nor ignored '
                                         r'\(255\); such pixels are scored as wrong'):
        metric.process({}, [_sample(pred, label, 'a.jpg')])
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # once per dataset
        metric.process({}, [_sample(pred, label + (label == 9) * 3, 'b.jpg')])
        metric.process({}, [_sample(pred, label.clamp(max=2), 'c.jpg')])
    metric.compute_metrics(metric.results)
    assert ('warning: annotation values 7, 9, 12 (neither a class 0..2 nor ignored) in 2 images, first /d/a.png'
            in capsys.readouterr().err)


def test_unwritable_work_dir_is_refused_before_the_run(tmp_path, monkeypatch):
    """Issue 22, case 7: a read-only --work-dir is one line, before any model or image is touched."""
    import errno
    import tempfile

    from mmengine.runner import Runner

    import sclip_toolkit.apis.evaluate as evaluate_module
    from sclip_toolkit.io_utils import WriteError

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, 'Read-only file system')

    monkeypatch.setattr(evaluate_module, 'check_dataset_config', lambda cfg: None)
    monkeypatch.setattr(Runner, 'from_cfg', classmethod(lambda cls, cfg: pytest.fail('the runner was built')))
    monkeypatch.setattr(tempfile, 'mkstemp', read_only)
    with pytest.raises(WriteError) as err:
        evaluate_module.evaluate('sclip_voc21', work_dir=str(tmp_path / 'w'), device='cpu', progress=False)
    assert str(err.value) == f'cannot write to --work-dir {tmp_path / "w"}: read-only file system'
