"""Every config under configs/: loads, builds its model (CLIP swapped for the tiny checkpoint) and its dataset (on a
tiny generated layout), and its class-name file agrees with the dataset's classes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from mmseg.registry import DATASETS

from sclip_toolkit.config import CONFIG_DIR, available_configs, load_config
from sclip_toolkit.models import CLIPBackbone, OVSegmentor
from sclip_toolkit.models.text import ClassNameError, parse_class_names

from .test_config_settings import flat
from sclip_toolkit.models.vfm import VFMFeatures
from sclip_toolkit.testing import write_random_vfm

from .datasets.layouts import make_layout

METHODS = ('sclip', 'naclip', 'clearclip', 'proxyclip', 'scclip', 'resclip', 'rfclip', 'corrclip')
DATASETS_ = ('voc21', 'voc20', 'context60', 'context59', 'coco_object', 'coco_stuff164k', 'coco_stuff10k',
             'cityscapes', 'ade20k', 'context459', 'ade847')
CONFIGS = available_configs()


def test_every_method_has_a_config_for_every_dataset():
    missing = [f'{m}/{m}_{d}' for m in METHODS for d in DATASETS_ if f'{m}/{m}_{d}' not in CONFIGS]
    assert not missing


def test_data_root_comes_from_sclip_data(monkeypatch, tmp_path):
    monkeypatch.setenv('SCLIP_DATA', str(tmp_path))
    assert load_config('sclip_ade20k').test_dataloader.dataset.data_root == f'{tmp_path}/ade/ADEChallengeData2016'
    monkeypatch.delenv('SCLIP_DATA')
    assert load_config('naclip_voc20').test_dataloader.dataset.data_root == 'data/VOCdevkit/VOC2012'


@pytest.fixture(scope='module')
def layouts(tmp_path_factory):
    """One tiny layout per dataset base (built on first use), keyed by the dataset entry of the configs."""
    cache = {}

    def get(dataset_cfg: dict) -> Path:
        key = json.dumps(dataset_cfg, sort_keys=True, default=str)
        if key not in cache:
            cache[key] = make_layout(tmp_path_factory.mktemp('data'), dataset_cfg).root
        return cache[key]

    return get


@pytest.fixture(scope='module')
def backbones(tiny_clip_path):
    """Tiny CLIP backbones, one per distinct ``model.clip`` config (its attention variant), built once."""
    cache = {}

    def get(clip_cfg: dict) -> CLIPBackbone:
        cfg = {k: v for k, v in clip_cfg.items() if k not in ('type', 'vfm')}
        key = json.dumps(cfg, sort_keys=True, default=str)
        if key not in cache:
            cache[key] = CLIPBackbone(**dict(cfg, checkpoint=str(tiny_clip_path)))
        return cache[key]

    return get


@pytest.fixture(scope='module')
def vfms(tmp_path_factory):
    """The config's VFM built from a tiny random checkpoint in its family's official layout, once per config."""
    cache = {}

    def get(vfm_cfg: dict) -> VFMFeatures:
        assert vfm_cfg.get('type') == 'VFMFeatures' and vfm_cfg.get('family') in ('dino', 'dinov2', 'sam', 'mae')
        key = json.dumps(vfm_cfg, sort_keys=True, default=str)
        if key not in cache:
            family = vfm_cfg['family']
            path = write_random_vfm(tmp_path_factory.mktemp('vfm') / f'{family}.pth', family)
            kwargs = {k: v for k, v in vfm_cfg.items() if k not in ('type', 'checkpoint', 'arch')}
            cache[key] = VFMFeatures(**dict(kwargs, checkpoint=str(path)))
        return cache[key]

    return get


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_model_and_dataset(name, backbones, vfms, layouts):
    cfg = load_config(name)
    model_cfg = cfg.model.to_dict()
    assert model_cfg.pop('type') == 'OVSegmentor'
    clip_cfg = model_cfg.pop('clip')
    clip = backbones(clip_cfg)
    clip.vfm = vfms(clip_cfg['vfm']) if clip_cfg.get('vfm') is not None else None
    affinity = (model_cfg.get('inference') or {}).get('affinity')
    if affinity is not None and affinity.get('type') == 'SAMAffinity':  # Trident: a tiny SAM instead of the weights
        from .models.test_trident import tiny_sam
        affinity['model'] = tiny_sam()
    model = OVSegmentor(clip=clip, **model_cfg)
    if clip.vfm is not None:  # the VFM's features feed the proxy attention on a 56x56 crop
        feats, grid = model.extract_feat(torch.randn(1, 3, 56, 56))
        assert feats.shape[:2] == (1, grid[0] * grid[1]) and torch.isfinite(feats).all()
    assert model.data_preprocessor.short_side in (336, 448, 560, 576, 688)  # 576, 688: Trident's

    dataset_cfg = cfg.test_dataloader.dataset.to_dict()
    dataset_cfg['data_root'] = str(layouts({k: v for k, v in dataset_cfg.items() if k != 'data_root'}))
    dataset = DATASETS.build(dataset_cfg)
    assert len(dataset) == 2
    sample = dataset[0]['data_samples']  # runs the test pipeline: image and label map load
    assert sample.gt_sem_seg.data.shape[-2:] == (40, 56)
    # the name file has one line per dataset class: otherwise predictions and labels would not line up
    assert model.num_classes == len(dataset.metainfo['classes']), (name, model.num_classes)


@pytest.mark.parametrize('name', CONFIGS)
def test_duplicate_names_are_allowed_only_where_the_name_file_has_them(name):
    model = load_config(name).model
    try:
        parse_class_names(model.text_encoder.class_names, model.text_encoder.separator, allow_duplicates=False)
        has_duplicates = False
    except ClassNameError as exc:
        assert 'already appears' in str(exc), exc
        has_duplicates = True
    assert bool(model.text_encoder.get('allow_duplicate_names', False)) == has_duplicates


def test_wide_label_datasets_use_the_16_bit_loader():
    for name in CONFIGS:
        cfg = load_config(name)
        loaders = [t['type'] for t in cfg.test_dataloader.dataset.pipeline if 'LoadAnnotations' in t['type']]
        wide = cfg.test_dataloader.dataset.type in ('ADE20K847Dataset', 'PascalContext459Dataset')
        assert loaders == (['LoadAnnotationsU16'] if wide else ['LoadAnnotations']), name


def test_reference_settings_spot_checks():
    """A few cells of docs/methods.md's per-dataset table that differ from the method defaults."""
    def model(name):
        return load_config(name).model

    def settings(name):
        return flat(model(name))

    assert model('sclip_coco_stuff164k').data_preprocessor.short_side == 448
    assert model('naclip_cityscapes').data_preprocessor.short_side == 560
    assert settings('naclip_voc20')['mode'] == 'whole'
    assert model('clearclip_context60').data_preprocessor.short_side == 448
    city = settings('clearclip_cityscapes')
    assert (city['crop_size'], city['stride']) == (224, 224)
    assert model('proxyclip_ade847').data_preprocessor.short_side == 448
    assert settings('proxyclip_coco_object')['prob_thd'] == 0.25
    assert (settings('scclip_coco_object')['logit_scale'], settings('scclip_coco_object')['prob_thd']) == (55, 0.35)
    assert settings('clearclip_voc20')['class_names'].endswith('cls_voc20__clearclip.txt')
    assert settings('sclip_ade847')['separator'] == '; '
    assert (CONFIG_DIR / 'sclip' / 'sclip_coco_stuff10k.py').read_text().count('reference has no such config') == 0
    assert 'reference has no such config' in (CONFIG_DIR / 'naclip' / 'naclip_coco_stuff10k.py').read_text()
