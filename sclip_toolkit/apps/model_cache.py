"""The models the page uses, built on first use and kept (one per method at its defaults, a few with changed
settings)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple  # noqa: F401


@dataclass
class _Entry:
    segmenter: object
    lock: threading.Lock = field(default_factory=threading.Lock)  # a call changes the model's vocabulary


class ModelCache:
    """Segmenters built on first use and kept: one per method at its own settings, plus the ``keep_custom`` most
    recently used with changed settings. A model is used by one request at a time."""

    def __init__(self, options):  # an AppOptions
        self.options = options
        self._defaults: Dict[str, _Entry] = {}
        self._custom: 'OrderedDict[tuple, _Entry]' = OrderedDict()
        self._lock = threading.Lock()
        self._build_locks: Dict[tuple, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._defaults) + len(self._custom)

    def _find(self, key: tuple) -> Optional[_Entry]:
        with self._lock:
            if not key[1]:
                return self._defaults.get(key[0])
            entry = self._custom.get(key)
            if entry is not None:
                self._custom.move_to_end(key)
            return entry

    def get(self, method: str, cfg_options: Dict) -> Tuple[_Entry, float]:
        """The model for ``method`` with ``cfg_options`` (on top of the app's), and the seconds spent building it
        now (0 when it was kept)."""
        from ..apis import Segmenter

        key = (method, tuple(sorted((k, repr(v)) for k, v in cfg_options.items())))
        with self._lock:
            build_lock = self._build_locks.setdefault(key, threading.Lock())
        with build_lock:  # two requests for the same new model build it once
            entry = self._find(key)
            if entry is not None:
                return entry, 0.0
            o = self.options
            seg = Segmenter(method, o.backbone, o.device, checkpoint=o.checkpoint, vfm_checkpoint=o.vfm_checkpoint,
                            pretrained=o.pretrained, download=o.download,
                            cfg_options={**(o.cfg_options or {}), **cfg_options})
            entry = _Entry(seg)
            with self._lock:
                if key[1]:
                    self._custom[key] = entry
                    while len(self._custom) > o.keep_custom:
                        self._custom.popitem(last=False)
                else:
                    self._defaults[method] = entry
            return entry, seg.load_seconds
