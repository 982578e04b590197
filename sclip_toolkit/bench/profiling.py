"""Measuring helpers shared by the benchmark and the tests."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict

import torch


def scratch_dir(prefix: str) -> Path:
    """A new temporary folder for a measuring run's random weights and images, removed when the process exits
    (they take 30 MB to 400 MB a run)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _libc():
    import ctypes
    import ctypes.util
    try:
        return ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    except OSError:
        return None


def exact_cpu_memory_accounting(threshold: int = 1 << 20) -> None:
    """Make process RSS track tensor memory: glibc then maps every block above ``threshold`` on its own and returns
    it on free (by default it raises that threshold as blocks are freed and keeps them for reuse, hiding peaks)."""
    libc = _libc()
    if libc is not None and hasattr(libc, 'mallopt'):
        libc.mallopt(-3, threshold)  # M_MMAP_THRESHOLD


def _trim() -> None:
    libc = _libc()
    if libc is not None and hasattr(libc, 'malloc_trim'):
        libc.malloc_trim(0)


def _rss_bytes() -> int:
    with open('/proc/self/statm') as fh:
        return int(fh.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


@contextmanager
def peak_memory(device: torch.device, out: Dict[str, float]):
    """Peak memory above the level at entry: CUDA allocator peak, or process RSS sampled every 2 ms on CPU."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        yield
        torch.cuda.synchronize(device)
        out['peak'] = torch.cuda.max_memory_allocated(device) - base
        return
    _trim()  # hand freed heap back first, so the growth seen below is this block's
    base, peak, stop = _rss_bytes(), [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        out['peak'] = max(peak[0], _rss_bytes()) - base
