"""Up-front layout checks: a missing folder or split file is one line naming it and the expected layout."""
from __future__ import annotations

import shutil

import pytest

from sclip_toolkit.datasets.base import DataLayoutError, check_dataset_config

from .layouts import make_layout

VOC21 = dict(type='PascalVOCDataset', data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
             ann_file='ImageSets/Segmentation/val.txt')
LAYOUT = ('JPEGImages/*.jpg, SegmentationClass/*.png, ImageSets/Segmentation/val.txt (the image names of the split '
          'without suffix, one per line)')


def test_complete_layout_passes(tmp_path):
    make_layout(tmp_path, VOC21)
    check_dataset_config(dict(VOC21, data_root=str(tmp_path)))


def test_missing_split_file_of_an_mmseg_dataset_names_it_and_the_layout(tmp_path):
    make_layout(tmp_path, VOC21)
    (tmp_path / VOC21['ann_file']).unlink()
    with pytest.raises(DataLayoutError) as err:
        check_dataset_config(dict(VOC21, data_root=str(tmp_path)))
    text = str(err.value)
    assert text.startswith(f'PascalVOCDataset: split file {tmp_path / VOC21["ann_file"]} not found; expected under '
                           f'{tmp_path}: {LAYOUT}')
    assert 'docs/evaluation.md' in text and '\n' not in text


def test_missing_label_folder_and_suffix_from_the_class(tmp_path):
    cfg = dict(type='ADE20KDataset', data_root=str(tmp_path),
               data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'))
    make_layout(tmp_path, cfg)
    shutil.rmtree(tmp_path / 'annotations')
    with pytest.raises(DataLayoutError, match=r'ADE20KDataset: label map folder .*annotations/validation not found; '
                                              r'expected under .*: images/validation/\*\.jpg, '
                                              r'annotations/validation/\*\.png'):
        check_dataset_config(cfg)


@pytest.mark.parametrize('content', ['', '\n  \n'])
def test_an_empty_split_file_is_one_line(tmp_path, content):
    """Issue 22, case 7: an empty val.txt."""
    make_layout(tmp_path, VOC21)
    (tmp_path / VOC21['ann_file']).write_text(content)
    with pytest.raises(DataLayoutError) as err:
        check_dataset_config(dict(VOC21, data_root=str(tmp_path)))
    assert str(err.value) == (f'PascalVOCDataset: split file {tmp_path / VOC21["ann_file"]} lists no images; it must '
                              f'name one image per line (its file name without the suffix)')
