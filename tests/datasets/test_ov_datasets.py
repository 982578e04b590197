"""The toolkit's datasets (those mmseg lacks) and the 16-bit label loader, on tiny generated layouts."""
from __future__ import annotations

import numpy as np
import pytest
from mmseg.registry import DATASETS, TRANSFORMS
from PIL import Image

from sclip_toolkit.datasets import LoadAnnotationsU16

from .layouts import make_layout

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
PIPELINE_U16 = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotationsU16'), dict(type='PackSegInputs')]

VOC = dict(data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
           ann_file='ImageSets/Segmentation/val.txt')
CONTEXT = dict(data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
               ann_file='ImageSets/SegmentationContext/val.txt')


def _build(tmp_path, cfg: dict, pipeline=PIPELINE):
    layout = make_layout(tmp_path, cfg)
    dataset = DATASETS.build(dict(cfg, data_root=str(tmp_path), pipeline=pipeline))
    return layout, dataset


def _gt(dataset, layout, index: int = 0):
    sample = dataset[index]['data_samples']
    stem = sorted(layout.labels)[index]
    return sample.gt_sem_seg.data[0].numpy(), layout.labels[stem]


def test_voc20_ignores_background_and_shifts_classes(tmp_path):
    layout, dataset = _build(tmp_path, dict(type='PascalVOC20Dataset', **VOC))
    assert len(dataset) == 2 and len(dataset.metainfo['classes']) == 20
    assert dataset.metainfo['classes'][0] == 'aeroplane'
    gt, raw = _gt(dataset, layout)
    expected = np.where((raw == 0) | (raw == 255), 255, raw - 1)
    np.testing.assert_array_equal(gt, expected)
    assert gt[gt != 255].max() == 19


def test_context60_keeps_background_and_refuses_reduce_zero_label(tmp_path):
    layout, dataset = _build(tmp_path, dict(type='PascalContext60Dataset', **CONTEXT))
    assert len(dataset.metainfo['classes']) == 60 and dataset.metainfo['classes'][0] == 'background'
    gt, raw = _gt(dataset, layout)
    np.testing.assert_array_equal(gt, raw)
    with pytest.raises(ValueError, match='reduce_zero_label must stay'):
        DATASETS.build(dict(type='PascalContext60Dataset', data_root=str(tmp_path), reduce_zero_label=True,
                            **CONTEXT))


def test_context59_ignores_label_zero(tmp_path):
    layout, dataset = _build(tmp_path, dict(type='PascalContext59Dataset', **CONTEXT))
    assert len(dataset.metainfo['classes']) == 59
    gt, raw = _gt(dataset, layout)
    np.testing.assert_array_equal(gt, np.where((raw == 0) | (raw == 255), 255, raw - 1))


def test_coco_object_scans_instance_train_ids(tmp_path):
    prefix = dict(img_path='images/val2017', seg_map_path='annotations/val2017')
    cfg = dict(type='COCOObjectDataset', data_prefix=prefix)
    layout, dataset = _build(tmp_path, cfg)
    assert len(dataset) == 2
    assert dataset[0]['data_samples'].seg_map_path.endswith('img_000_instanceTrainIds.png')
    classes = dataset.metainfo['classes']
    assert len(classes) == 81 and classes[:3] == ('background', 'person', 'bicycle') and classes[-1] == 'toothbrush'
    gt, raw = _gt(dataset, layout)
    np.testing.assert_array_equal(gt, raw)


@pytest.mark.parametrize('name, count', [('ADE20K847Dataset', 847), ('PascalContext459Dataset', 459)])
def test_wide_datasets_keep_labels_above_255(tmp_path, name, count):
    prefix = dict(img_path='images', seg_map_path='annotations')
    cfg = dict(type=name, data_prefix=prefix, ann_file='val.txt')
    layout, dataset = _build(tmp_path, cfg, PIPELINE_U16)
    assert len(dataset.metainfo['classes']) == count
    gt, raw = _gt(dataset, layout)
    np.testing.assert_array_equal(gt, raw)
    assert gt.max() == 65535 and gt[gt < 65535].max() == count - 1  # count - 1 > 255: not wrapped
    # mmseg's own loader casts to uint8, which is why these datasets need LoadAnnotationsU16
    wrapped = DATASETS.build(dict(cfg, data_root=str(tmp_path), pipeline=PIPELINE))
    np.testing.assert_array_equal(wrapped[0]['data_samples'].gt_sem_seg.data[0].numpy(), raw.astype(np.uint8))


def test_ade847_without_split_file_uses_every_image(tmp_path):
    cfg = dict(type='ADE20K847Dataset', data_prefix=dict(img_path='images_detectron2/validation',
                                                         seg_map_path='annotations_detectron2/validation'))
    _, dataset = _build(tmp_path, cfg, PIPELINE_U16)
    assert len(dataset) == 2


@pytest.mark.parametrize('name, cfg', [('PascalVOC20Dataset', VOC), ('PascalContext60Dataset', CONTEXT),
                                       ('PascalContext59Dataset', CONTEXT), ('PascalContext459Dataset', CONTEXT)])
def test_missing_folders_are_reported_with_the_fix(tmp_path, name, cfg):
    with pytest.raises(FileNotFoundError, match=r'data_root .*nowhere does not exist; expected under .*: '
                                                r'JPEGImages/\*.jpg.*SCLIP_DATA'):
        DATASETS.build(dict(type=name, data_root=str(tmp_path / 'nowhere'), **cfg))
    (tmp_path / 'root').mkdir()
    with pytest.raises(FileNotFoundError, match=r'image folder .*JPEGImages not found.*SCLIP_DATA'):
        DATASETS.build(dict(type=name, data_root=str(tmp_path / 'root'), **cfg))
    (tmp_path / 'root' / 'JPEGImages').mkdir()
    with pytest.raises(FileNotFoundError, match=r'label map folder .* not found'):
        DATASETS.build(dict(type=name, data_root=str(tmp_path / 'root'), **cfg))
    (tmp_path / 'root' / cfg['data_prefix']['seg_map_path']).mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r'split file .*val.txt not found'):
        DATASETS.build(dict(type=name, data_root=str(tmp_path / 'root'), **cfg))


def test_u16_loader_reduce_zero_label_and_errors(tmp_path):
    path = tmp_path / 'map.tif'
    Image.fromarray(np.array([[0, 1, 300], [255, 2, 0]], dtype=np.uint16)).save(path)
    results = dict(seg_map_path=str(path), reduce_zero_label=True, seg_fields=[])
    out = TRANSFORMS.build(dict(type='LoadAnnotationsU16'))(dict(results))
    assert out['gt_seg_map'].dtype == np.uint16
    np.testing.assert_array_equal(out['gt_seg_map'], [[255, 0, 299], [255, 1, 255]])
    with pytest.raises(ValueError, match='disagrees with the dataset'):
        LoadAnnotationsU16(reduce_zero_label=False)(dict(results))
    rgb = tmp_path / 'rgb.png'
    Image.fromarray(np.zeros((2, 2, 3), dtype=np.uint8)).save(rgb)
    with pytest.raises(ValueError, match='single-channel'):
        LoadAnnotationsU16()(dict(seg_map_path=str(rgb), reduce_zero_label=False, seg_fields=[]))
