"""app.py: its options, its refusal of missing files, the weights line, and a real start on a free port."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sclip_toolkit.apps.service import AppOptions
from sclip_toolkit.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
gradio = pytest.importorskip('gradio', reason='gradio is not installed (pip install -r requirements.txt)')


def test_missing_checkpoint_file_is_refused(capsys, tmp_path):
    from sclip_toolkit.apps.web import main

    assert main(['--checkpoint', str(tmp_path / 'nope.pt')]) == 2
    assert f'--checkpoint {tmp_path / "nope.pt"}: no such file' in capsys.readouterr().err
    assert main(['--max-side', '0']) == 2
    assert '--max-side must be at least 1' in capsys.readouterr().err


def test_weights_line_says_where_weights_go_without_paths(tiny_clip_path):
    from sclip_toolkit.apps.web import weights_note

    assert weights_note(AppOptions(checkpoint=str(tiny_clip_path))) == f'CLIP weights: {tiny_clip_path.name}'
    assert weights_note(AppOptions(checkpoint=str(tiny_clip_path), show_paths=True)) == \
        f'CLIP weights: {tiny_clip_path}'
    note = weights_note(AppOptions())
    cache = os.environ['SCLIP_CLIP_CACHE']  # the tests' empty cache (conftest)
    assert note == "No CLIP weights yet: ViT-B-16.pt (ViT-B-16) belongs in the server's weights folder."
    assert cache in weights_note(AppOptions(show_paths=True))
    assert 'ViT-L-14.pt' in weights_note(AppOptions(backbone='ViT-L/14'))


def test_page_builds_without_weights(tmp_path):
    from sclip_toolkit.apps.service import SegmentationService
    from sclip_toolkit.apps.web import build_app

    demo = build_app(SegmentationService(AppOptions(), work_dir=tmp_path))
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, 'elem_id', None)}
    assert {'image-file', 'classes', 'class-file', 'methods', 'run', 'result', 'legend', 'downloads',
            'weights'} <= ids


@pytest.mark.slow
def test_app_py_serves_on_localhost_and_cleans_up_on_sigterm(tiny_clip_path, tmp_path):
    """A real start: the page is served; the temporary folder exists while it runs and is gone after SIGTERM; the
    folder a killed server left behind is removed at start."""
    stale = tmp_path / 'sclip_app_999999999_left'  # no such process
    (stale / 'runs').mkdir(parents=True)
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / 'app.py'), '--port', str(port), '--checkpoint',
                             str(tiny_clip_path), '--device', 'cpu'], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, TMPDIR=str(tmp_path)))
    try:
        deadline, page = time.time() + 120, None
        while time.time() < deadline and proc.poll() is None and page is None:
            try:
                page = urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=5).read().decode()
            except OSError:
                time.sleep(0.5)
        assert page is not None, proc.stdout.read() if proc.poll() is not None else 'no answer in 120 s'
        assert 'sclip_toolkit' in page
        assert not stale.exists()
        assert [p.name.split('_')[2] for p in tmp_path.glob('sclip_app_*')] == [str(proc.pid)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert list(tmp_path.glob('sclip_app_*')) == []
