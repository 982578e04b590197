"""Clocks for the measuring tools: a self-time stage clock, an inclusive one, and an attribute patcher for tests."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional

import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so that a clock read after it counts that work."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


@contextmanager
def wrapped(owner: Any, name: str, wrap: Callable[[Callable], Callable]) -> Iterator[None]:
    """Replace ``owner.name`` (an instance's, a class's or a module's attribute) by ``wrap(original)`` while the
    block runs; the attribute is restored as it was (or removed, when it came from the class)."""
    own = vars(owner)
    had, raw = name in own, own.get(name)
    setattr(owner, name, wrap(getattr(owner, name)))
    try:
        yield
    finally:
        if had:
            setattr(owner, name, raw)
        else:
            delattr(owner, name)


class StageClock:
    """Time per stage, each moment given to the innermost open stage (self time), so the stages sum to the total.

    Args:
        clock: seconds now (``time.process_time``: the process's CPU time over all threads, the figure that stays
            comparable on a shared machine; ``time.perf_counter``: wall time).
        device: a CUDA device is synchronised at every stage boundary.
    """

    def __init__(self, clock: Callable[[], float] = time.process_time, device: Optional[torch.device] = None):
        self.clock, self.device = clock, device
        self.totals: Dict[str, float] = {}
        self._open: List[str] = []
        self._mark = 0.0

    def now(self) -> float:
        if self.device is not None:
            sync(self.device)
        return self.clock()

    def _charge(self, now: float) -> None:
        if self._open:
            key = self._open[-1]
            self.totals[key] = self.totals.get(key, 0.0) + now - self._mark
        self._mark = now

    def enter(self, name: str) -> None:
        """Open stage ``name``: time from now on is its own, until :meth:`leave` or a stage opened inside it."""
        self._charge(self.now())
        self._open.append(name)

    def leave(self) -> None:
        """Close the innermost open stage."""
        self._charge(self.now())
        self._open.pop()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.enter(name)
        try:
            yield
        finally:
            self.leave()

    def hook(self, name: str) -> Callable[[Callable], Callable]:
        """A wrapper for :func:`wrapped`: every call of the wrapped function runs in stage ``name``."""
        def wrap(original: Callable) -> Callable:
            def timed(*args, **kwargs):
                with self.stage(name):
                    return original(*args, **kwargs)
            return timed
        return wrap


class InclusiveTimes:
    """Seconds per stage including the stages opened inside it (wall time, the device synchronised at each end).

    Args:
        device: the device whose work is waited for at every stage boundary.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.totals: Dict[str, float] = {}
        self.calls: Dict[str, int] = {}
        self._starts: List[tuple] = []

    def enter(self, name: str) -> None:
        sync(self.device)
        self._starts.append((name, time.perf_counter()))

    def leave(self) -> None:
        sync(self.device)
        name, start = self._starts.pop()
        self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - start
        self.calls[name] = self.calls.get(name, 0) + 1
