"""The server's temporary folder and its local-only checks, without starting a server."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from sclip_toolkit.apps.runtime import (is_local_bind, is_local_name, make_work_dir, remove_stale_work_dirs)


def test_stale_folders_of_dead_servers_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    stale = tmp_path / f'sclip_app_{dead.pid}_abc'
    mine = tmp_path / f'sclip_app_{os.getpid()}_def'
    other = tmp_path / 'sclip_app_notapid'
    for path in (stale, mine, other):
        (path / 'runs').mkdir(parents=True)
    assert remove_stale_work_dirs(tmp_path) == 1
    assert not stale.exists() and mine.is_dir() and other.is_dir()
    fresh = make_work_dir(tmp_path, cleanup=False)
    assert fresh.name.startswith(f'sclip_app_{os.getpid()}_') and fresh.parent == tmp_path


def test_work_dir_removed_on_sigterm(tmp_path):
    code = ('import sys, time\nfrom pathlib import Path\nfrom sclip_toolkit.apps.runtime import make_work_dir\n'
            'path = make_work_dir(Path(sys.argv[1]))\n(path / "upload.png").write_bytes(b"x")\n'
            'print(path, flush=True)\ntime.sleep(120)\n')
    proc = subprocess.Popen([sys.executable, '-c', code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    path = proc.stdout.readline().strip()
    assert os.path.isdir(path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert not os.path.exists(path)


def test_local_names():
    assert is_local_bind('127.0.0.1') and is_local_bind('localhost') and is_local_bind('::1')
    assert not is_local_bind('0.0.0.0') and not is_local_bind('192.168.1.5')
    assert is_local_name('127.0.0.1:7860') and is_local_name('[::1]:80') and is_local_name('LocalHost')
    assert not is_local_name('evil.example') and not is_local_name('127.0.0.1.nip.io:7860')
