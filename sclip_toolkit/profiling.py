"""Measuring helpers shared by the benchmark and the tests."""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from typing import Dict

import torch


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
