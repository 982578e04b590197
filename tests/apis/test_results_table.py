"""The eval-all results table: written whole after every update, averages, failures, three formats."""
from __future__ import annotations

import csv

import pytest
from openpyxl import load_workbook

from sclip_toolkit.apis.results_table import STANDARD_DATASETS, ResultsTable


def _csv(table: ResultsTable):
    with open(table.prefix.with_suffix('.csv'), newline='') as f:
        return list(csv.reader(f))


def test_every_update_rewrites_all_formats(tmp_path):
    table = ResultsTable(tmp_path / 'out' / 'results', ['sclip', 'naclip'], ['voc21', 'ade20k'])
    table.set('sclip', 'voc21', 59.63)
    assert _csv(table) == [['method', 'VOC21', 'ADE20K', 'avg'], ['sclip', '59.63', '', '59.63 (1/2)'],
                           ['naclip', '', '', '']]
    table.set('sclip', 'ade20k', None, status='failed', note='exit code 1: CUDA out of memory')
    table.set('naclip', 'voc21', 64.07)
    table.set('naclip', 'ade20k', 19.05)
    rows = _csv(table)
    assert rows[1] == ['sclip', '59.63', 'failed', '59.63 (1/2)']  # the finished cell survives the failure
    assert rows[2] == ['naclip', '64.07', '19.05', '41.56']
    markdown = table.prefix.with_suffix('.md').read_text()
    assert '| naclip | 64.07 | 19.05 | 41.56 |' in markdown
    assert '- sclip / ade20k: failed: exit code 1: CUDA out of memory' in markdown
    book = load_workbook(table.prefix.with_suffix('.xlsx'))
    assert [c.value for c in book['mIoU'][3]] == ['naclip', 64.07, 19.05, pytest.approx(41.56)]
    assert [c.value for c in book['errors'][2]][:3] == ['sclip', 'ade20k', 'failed']
    assert not list(tmp_path.rglob('*.tmp'))


def test_average_and_unknown_cells():
    table = ResultsTable('unused', ['m'], list(STANDARD_DATASETS))
    for i, d in enumerate(STANDARD_DATASETS):
        table.set('m', d, 10.0 * (i + 1), save=False)
    assert table.average('m') == (45.0, 8)
    with pytest.raises(KeyError, match='not in the table'):
        table.set('m', 'ade847', 1.0, save=False)
