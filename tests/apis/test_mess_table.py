"""The MESS table: PAXRay-4 as the mean of its subsets, domain and overall means as MESS combines them, the two-class
metrics, and every file rewritten whole."""
from __future__ import annotations

import csv

import pytest

from sclip_toolkit.apis.mess_table import MESSTable
from sclip_toolkit.datasets.mess_catalog import MESS_DATASETS


def _table(tmp_path):
    table = MESSTable(tmp_path / 'results', ['sclip', 'naclip'])
    for i, key in enumerate(MESS_DATASETS):  # sclip: every set, mIoU = its index
        extra = dict(Sensitivity=50.0, Specificity=90.0) if MESS_DATASETS[key].num_classes == 2 else {}
        table.set('sclip', key, {'mIoU': float(i), 'CoI-mIoU': float(i) / 2, **extra}, save=False)
    table.set('naclip', 'bdd100k', {'mIoU': 10.0}, save=False)
    table.set('naclip', 'paxray_lungs', {'mIoU': 30.0}, save=False)
    table.set('naclip', 'floodnet', None, 'failed', 'exit code 2: no images', save=False)
    table.save()
    return table


def test_columns_domain_means_and_mean(tmp_path):
    table = _table(tmp_path)
    rows = list(csv.reader(open(tmp_path / 'results.csv', encoding='utf-8')))
    header = rows[0]
    assert header[1:23] == [s.label for s in MESS_DATASETS.values() if not s.group][:14] + ['PAXRay-4'] + \
        [s.label for s in MESS_DATASETS.values() if not s.group][14:]
    assert header[23:] == ['General mean', 'Earth mean', 'Medical mean', 'Engineering mean', 'Agri+Bio mean', 'mean']
    sclip = dict(zip(header, rows[1]))
    index = {k: i for i, k in enumerate(MESS_DATASETS)}
    paxray = sum(index[k] for k in ('paxray_lungs', 'paxray_bones', 'paxray_mediastinum', 'paxray_diaphragm')) / 4
    assert float(sclip['PAXRay-4']) == pytest.approx(paxray)
    medical = (index['kvasir_instrument'] + index['chase_db1'] + index['cryonuseg'] + paxray) / 4
    assert float(sclip['Medical mean']) == pytest.approx(medical, abs=0.006)
    general = sum(index[k] for k in ('bdd100k', 'dark_zurich', 'mhp_v1', 'foodseg103', 'atlantis', 'dram')) / 6
    assert float(sclip['General mean']) == pytest.approx(general, abs=0.006)
    columns = [float(sclip[c]) for c in header[1:23]]
    assert float(sclip['mean']) == pytest.approx(sum(columns) / 22, abs=0.01)
    naclip = dict(zip(header, rows[2]))
    assert naclip['BDD100K'] == '10.00' and naclip['FloodNet'] == 'failed' and naclip['PAXRay-4'] == '(1/4)'
    assert naclip['General mean'] == '10.00 (1/6)' and naclip['mean'] == '10.00 (1/22)'


def test_binary_metrics_markdown_and_xlsx(tmp_path):
    from openpyxl import load_workbook

    table = _table(tmp_path)
    binary = list(csv.reader(open(tmp_path / 'results_binary.csv', encoding='utf-8')))
    assert binary[0] == ['dataset', 'method', 'mIoU', 'CoI-mIoU', 'Sensitivity', 'Specificity']
    assert [r[0] for r in binary[1:] if r[1] == 'sclip'] == ['Kvasir-Instrument', 'CHASE DB1', 'CryoNuSeg',
                                                             'PAXRay-Lungs', 'PAXRay-Bones', 'PAXRay-Mediastinum',
                                                             'PAXRay-Diaphragm', 'DeepCrack']
    assert ['PAXRay-Lungs', 'naclip', '30.00', '', '', ''] in binary
    markdown = (tmp_path / 'results.md').read_text()
    assert 'Two-class datasets' in markdown and '- naclip / floodnet: failed: exit code 2: no images' in markdown
    book = load_workbook(tmp_path / 'results.xlsx')
    assert book.sheetnames == ['mIoU', 'two-class', 'errors']
    row = [c.value for c in book['mIoU'][3]]
    assert row[0] == 'naclip' and row[1] == 10.0 and row[-1] == pytest.approx(10.0)
    assert not list(tmp_path.glob('*.tmp'))
    assert table.column_value('naclip', 'FloodNet') == (None, 'failed')
