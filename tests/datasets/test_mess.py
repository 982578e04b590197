"""The MESS datasets: the catalog and class names equal the mess-benchmark package's, the dataset pairs files as MESS
does, and every MESS config builds and evaluates on a synthetic copy with a tiny random model."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmseg.registry import DATASETS, METRICS, MODELS
from PIL import Image

from sclip_toolkit.config import load_config
from sclip_toolkit.datasets.base import DataLayoutError
from sclip_toolkit.datasets.mess_catalog import MESS_DATASETS, MESS_DOMAINS, MESS_GROUPS, mess_spec
from sclip_toolkit.datasets.mess_configs import (MESS_SETTINGS_DIR, mess_class_names, mess_methods,
                                                 parse_mess_config_name)

from .mess_layouts import make_mess_layout

ROOT = Path(__file__).resolve().parents[2]
KEYS = list(MESS_DATASETS)
# In the default run: a two-class set, one whose background is not class 0, odd file endings, a night set; the
# full sweep over the 25 sets is marked slow.
QUICK = ('chase_db1', 'isprs_potsdam', 'cwfid', 'dark_zurich')
SWEEP = [pytest.param(k, marks=() if k in QUICK else pytest.mark.slow) for k in KEYS]


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f'{name}_tool', ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def package_meta():
    return _tool('mess_classnames').package_metadata()


def test_22_datasets_in_5_domains_with_paxrays_four_subsets():
    assert len(MESS_GROUPS) == 22 and len(KEYS) == 25
    assert MESS_GROUPS['PAXRay-4'] == ('paxray_lungs', 'paxray_bones', 'paxray_mediastinum', 'paxray_diaphragm')
    counts = {d: len({s.column for s in MESS_DATASETS.values() if s.domain == d}) for d in MESS_DOMAINS}
    assert counts == {'General': 6, 'Earth Monitoring': 5, 'Medical Sciences': 4, 'Engineering': 4,
                      'Agriculture and Biology': 3}
    assert mess_spec('mess_floodnet').key == 'floodnet'
    with pytest.raises(ValueError, match="unknown MESS dataset 'flodnet'; valid: bdd100k, dark_zurich"):
        mess_spec('flodnet')


def test_class_names_equal_the_packages_in_order(package_meta):
    names = _tool('mess_classnames').package_class_names()
    for key in KEYS:
        ours = (ROOT / 'configs' / 'classnames' / f'cls_mess_{key}.txt').read_text(encoding='utf-8').splitlines()
        assert ours == names[key], key
    assert _tool('mess_classnames').main(['--check']) == 0


@pytest.mark.parametrize('key', KEYS)
def test_catalog_equals_the_packages_registration(key, package_meta):
    spec, meta = MESS_DATASETS[key], package_meta[MESS_DATASETS[key].mess_name]
    assert len(meta.stuff_classes) == spec.num_classes and meta.ignore_label == 255
    assert list(meta.classes_of_interest) == list(spec.classes_of_interest)
    assert meta.background_class == spec.background_class
    root = Path(meta.image_root).parts[:-len(Path(spec.folder, spec.img_dir).parts)]
    assert Path(meta.image_root) == Path(*root, spec.folder, spec.img_dir)
    assert Path(meta.sem_seg_root) == Path(*root, spec.folder, spec.ann_dir)


@pytest.mark.parametrize('extras', [False, True], ids=['clean', 'unpaired-files'])
@pytest.mark.parametrize('key', SWEEP)
def test_dataset_pairs_the_files_mess_pairs(key, extras, tmp_path, package_meta):
    """MESSDataset on a synthetic copy lists exactly what MESS's own loader lists (its registered function, pointed at
    the copy), with and without unpaired files and a sub-folder (which both leave out)."""
    from mess.utils.catalog import DatasetCatalog

    spec = MESS_DATASETS[key]
    labels = make_mess_layout(tmp_path, key, extras=extras)
    cfg = Config.fromfile(str(ROOT / 'configs' / '_base_' / 'datasets' / f'mess_{key}.py')).test_dataloader.dataset
    cfg['data_root'] = str(tmp_path / spec.folder)
    dataset = DATASETS.build(cfg)
    ours = [(d['img_path'], d['seg_map_path']) for d in dataset.load_data_list()]
    theirs = DatasetCatalog[spec.mess_name](x=str(tmp_path / spec.folder / spec.img_dir),
                                            y=str(tmp_path / spec.folder / spec.ann_dir))
    assert sorted(ours) == sorted((r['file_name'], r['sem_seg_file_name']) for r in theirs)
    assert sorted(p for p, _ in ours) == sorted(labels)
    assert dataset.metainfo['classes_of_interest'] == list(spec.classes_of_interest)
    assert len(dataset.metainfo['classes']) == spec.num_classes


def test_an_empty_dataset_is_one_line_naming_the_folders(tmp_path):
    spec = MESS_DATASETS['cwfid']
    for sub in (spec.img_dir, spec.ann_dir):
        (tmp_path / sub).mkdir(parents=True)
    with pytest.raises(DataLayoutError, match=r'MESSDataset\(cwfid\): no image in .*images \(\*image.png\) has a '
                                              r'label map in .*annotations_detectron2/test \(\*annotation.png\); '
                                              r'prepare the dataset with tools/prepare_mess.py'):
        DATASETS.build(dict(type='MESSDataset', mess_name='cwfid', data_root=str(tmp_path), pipeline=[]))
    (tmp_path / 'x').mkdir()
    with pytest.raises(DataLayoutError, match=r'MESSDataset\(cwfid\): image folder .*x/images not found; expected '
                                              r'under .*x: images/\*image.png, annotations_detectron2/test/'):
        DATASETS.build(dict(type='MESSDataset', mess_name='cwfid', data_root=str(tmp_path / 'x'), pipeline=[]))


def test_method_settings_headers_and_name_variants():
    assert set(mess_methods()) >= {'sclip', 'naclip', 'clearclip', 'proxyclip', 'scclip', 'resclip', 'rfclip',
                                   'corrclip'}
    for method in mess_methods():
        header = (MESS_SETTINGS_DIR / f'{method}.py').read_text().split('_base_')[0]
        assert 'unseen domain' in header and 'no probability threshold' in header, method
        assert not any(step.get('type') == 'ProbThreshold' for step in load_config(f'{method}_mess_dram').model
                       .get('post_process', [])), method
    assert mess_class_names('corrclip', 'bdd100k')[11] == 'people'  # CorrCLIP's rename, as in its shipped files
    assert mess_class_names('sclip', 'bdd100k')[11] == 'person'
    assert parse_mess_config_name('configs/x/sclip_mess_paxray_lungs.py') == ('sclip', 'paxray_lungs')
    with pytest.raises(FileNotFoundError, match="'flodnet' is not a MESS dataset"):
        load_config('sclip_mess_flodnet')
    with pytest.raises(FileNotFoundError, match="method 'vanilla' has no MESS settings"):
        load_config('vanilla_mess_floodnet')


def _confusion_ious(preds, labels, num_classes):
    """Per-class IoU straight from the label maps (NumPy), NaN where a class is neither predicted nor labelled."""
    inter, pred_area, gt_area = (np.zeros(num_classes) for _ in range(3))
    for pred, gt in zip(preds, labels):
        keep = gt != 255
        p, g = pred[keep], gt[keep]
        for c in range(num_classes):
            inter[c] += np.sum((p == c) & (g == c))
            pred_area[c] += np.sum(p == c)
            gt_area[c] += np.sum(g == c)
    union = pred_area + gt_area - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, inter / union, np.nan) * 100


@pytest.fixture(scope='module')
def tiny_model(tiny_clip_path, tmp_path_factory):
    """SCLIP's MESS settings on the tiny CLIP, one template, 32-pixel inputs; built once (the vocabulary is set per
    dataset from its config), run on one thread (the test's images are tiny; threads only add waiting)."""
    templates = tmp_path_factory.mktemp('templates') / 'templates.txt'
    templates.write_text('a photo of a {}.\n')
    options = {'model.text_encoder.templates': str(templates), 'model.data_preprocessor.short_side': 32,
               'model.inference.crop_size': 32, 'model.inference.stride': 16}
    model = MODELS.build(load_config('sclip_mess_chase_db1', checkpoint=str(tiny_clip_path), cfg_options=options)
                         .model).eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield model, options
    torch.set_num_threads(threads)


@pytest.mark.parametrize('key', SWEEP)
def test_mess_config_builds_and_evaluates_on_a_synthetic_copy(key, tmp_path, tiny_model, monkeypatch):
    """The config's dataset, class names and metric on a synthetic copy with a tiny random model; the per-class IoU
    equals a NumPy computation on the same predictions, and mIoU is their mean."""
    model, options = tiny_model
    monkeypatch.setenv('SCLIP_DATA', str(tmp_path))
    labels = make_mess_layout(tmp_path, key)
    cfg = load_config(f'sclip_mess_{key}', cfg_options=options)
    dataset = DATASETS.build(cfg.test_dataloader.dataset.to_dict())
    model.text_encoder.set_vocabulary(cfg.model.text_encoder.class_names)
    assert model.num_classes == len(dataset.metainfo['classes']) == MESS_DATASETS[key].num_classes
    metric = METRICS.build(cfg.test_evaluator)
    metric.dataset_meta = dataset.metainfo
    preds, gts = [], []
    for i in range(len(dataset)):
        batch = pseudo_collate([dataset[i]])
        outputs = model.test_step(batch)
        metric.process(batch, [o.to_dict() for o in outputs])
        preds.append(outputs[0].pred_sem_seg.data[0].numpy())
        gts.append(np.array(Image.open(outputs[0].seg_map_path)).astype(np.int64))
    assert sorted(labels) == sorted(d['img_path'] for d in dataset.load_data_list())
    results = metric.evaluate(len(dataset))
    expected = _confusion_ious(preds, gts, MESS_DATASETS[key].num_classes)
    got = np.array([np.nan if v['IoU'] is None else v['IoU'] for v in metric.per_class.values()])
    np.testing.assert_allclose(got, np.round(expected, 2), atol=1e-6)
    assert abs(results['mIoU'] - np.nanmean(expected)) < 1e-6
    assert ('Sensitivity' in results) == (MESS_DATASETS[key].num_classes == 2)


@pytest.mark.parametrize('method', mess_methods())
def test_every_methods_mess_config_is_its_base_with_messs_names_and_metric(method):
    """So each builds as its standard-dataset configs do (tests/test_configs.py builds those)."""
    from sclip_toolkit.methods import method_base

    mess, base = load_config(f'{method}_mess_floodnet'), Config.fromfile(str(method_base(method)))
    names = mess.model.text_encoder.pop('class_names')
    base.model.text_encoder.pop('class_names', None)
    assert mess.model.to_dict() == base.model.to_dict()
    assert mess.test_evaluator == dict(type='MESSMetric')
    assert mess.test_dataloader.dataset.mess_name == 'floodnet'
    flat = [n for item in names for n in ([item] if isinstance(item, str) else item)]
    if isinstance(names, str):
        flat = Path(names).read_text().splitlines()
    assert flat == mess_class_names(method, 'floodnet')
