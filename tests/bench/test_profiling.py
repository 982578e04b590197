"""Measuring helpers: scratch folders are removed when the measuring process exits."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_scratch_dir_is_removed_at_exit(tmp_path):
    code = ("import sys, tempfile; tempfile.tempdir = sys.argv[1]\n"
            "from sclip_toolkit.bench.profiling import scratch_dir\n"
            "d = scratch_dir('sclip_bench_'); (d / 'w.pt').write_bytes(b'x' * 1000); print(d)")
    out = subprocess.run([sys.executable, '-c', code, str(tmp_path)], capture_output=True, text=True, check=True)
    made = Path(out.stdout.strip().splitlines()[-1])
    assert made.parent == tmp_path and made.name.startswith('sclip_bench_')
    assert not made.exists() and list(tmp_path.iterdir()) == []
