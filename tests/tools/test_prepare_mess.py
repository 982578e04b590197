"""tools/prepare_mess.py: one line per dataset, offline included; manual downloads named; image counts checked."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ..datasets.mess_layouts import make_mess_layout

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('prepare_mess_tool', ROOT / 'tools' / 'prepare_mess.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_set_has_one_preparation(tool):
    groups = tool.preparations()
    assert len(groups) == 22 and [s.key for s in groups['paxray']] == ['paxray_lungs', 'paxray_bones',
                                                                      'paxray_mediastinum', 'paxray_diaphragm']
    assert list(tool.preparations(['mess_paxray_bones', 'cwfid'])) == ['paxray', 'cwfid']
    with pytest.raises(SystemExit, match="unknown dataset 'cwfd'; valid: bdd100k"):
        tool.preparations(['cwfd'])


def test_offline_each_dataset_fails_in_one_line(tool, tmp_path, monkeypatch, capsys):
    """No network: the download programs fail; manual datasets are named with where their files go, an automatic
    one fails in one line (no traceback) and the empty folder its failed download left is removed."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for program in ('wget', 'unzip', 'git', 'tar', 'unrar'):
        fake = bin_dir / program
        fake.write_text('#!/bin/sh\necho "$0: unable to resolve host address" >&2\nexit 4\n')
        fake.chmod(0o755)
    monkeypatch.setenv('PATH', f'{bin_dir}:/usr/bin:/bin')
    data = tmp_path / 'data'
    code = tool.main(['--dataset-dir', str(data), '--only', 'chase_db1', 'bdd100k', 'floodnet', 'cryonuseg'])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 1 and len(lines) == 5, lines
    chase, bdd, flood, cryo, summary = lines
    assert chase.startswith('chase_db1: failed (chase_db1 0 of 20): it ended without error but the images are not '
                            'all there; download it by hand from https://blogs.kingston.ac.uk/retinal/chasedb1/ into')
    assert 'removed the empty CHASEDB1 it left' in chase and not (data / 'CHASEDB1').exists()
    assert bdd == (f'bdd100k: needs a manual download: bdd100k_images_10k.zip and bdd100k_sem_seg_labels_trainval.zip '
                   f'from https://bdd-data.berkeley.edu (account; "10K Images" and "Segmentation"); put it in {data} '
                   f'and run again')
    assert flood.startswith('floodnet: needs a manual download: the FloodNet-Supervised_v1.0 folder')
    assert cryo.startswith('cryonuseg: needs a manual download: the Kaggle download, unpacked as a folder named '
                           'archive (account;')
    assert summary.startswith(f'0 of 4 ready in {data}')


def test_missing_programs_are_named_with_how_to_install(tool, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('PATH', str(tmp_path))  # no wget, no unzip
    assert tool.main(['--dataset-dir', str(tmp_path / 'd'), '--only', 'dark_zurich']) == 1
    assert capsys.readouterr().out.splitlines()[0] == ('dark_zurich: not prepared: needs wget (apt-get install wget); '
                                                       'unzip (apt-get install unzip)')


def test_prepared_sets_are_counted_against_mess(tool, tmp_path, capsys):
    make_mess_layout(tmp_path, 'cwfid', num_images=2)
    assert tool.main(['--dataset-dir', str(tmp_path), '--only', 'cwfid', '--check']) == 1
    assert capsys.readouterr().out.splitlines()[0] == 'cwfid: not ready (cwfid 2 of 21)'
    make_mess_layout(tmp_path, 'cwfid', num_images=21)
    assert tool.main(['--dataset-dir', str(tmp_path), '--only', 'cwfid']) == 0  # ready: nothing is run
    assert capsys.readouterr().out.splitlines() == ['cwfid: ready (cwfid 21 of 21)', f'1 of 1 ready in {tmp_path}']
