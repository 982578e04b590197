"""How the app was started (:class:`AppOptions`) and the models it keeps between requests (:class:`ModelCache`)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from ..apis.inputs import DEFAULT_MAX_PIXELS


@dataclass
class AppOptions:
    """How the app was started: the ``demo.py`` model options plus the server's limits.

    Attributes:
        backbone / checkpoint / vfm_checkpoint / pretrained / device / download / cfg_options: as for
            :class:`sclip_toolkit.apis.Segmenter`, the same for every method.
        sam_checkpoint / sam_refine: SAM's weights and refinement, for the methods that use SAM (Trident); the
            VFM and SAM options go to the methods that take them (:func:`weight_options`).
        max_side: longer image sides are scaled down to this many pixels before segmenting (large files are
            decoded reduced).
        max_pixels: image files with more pixels are refused, read from the header before decoding.
        max_classes: most classes one request may name.
        max_name_length: most characters of one class name.
        keep_custom: models with non-default settings kept besides one per method at its defaults.
        concurrency: requests segmenting at the same time (Gradio's queue holds the others).
        queue_size: requests waiting at most; later ones are told the server is busy.
        notice: a line shown at the top of the page (e.g. that the weights are random).
        alpha: opacity of the class colours in the pictures.
        show_paths: show the server's file paths in the page and the JSON (default: file names only).
        lookup_bytes: memory for the click data of recent runs (all sessions together).
    """
    backbone: Optional[str] = None
    checkpoint: Optional[str] = None
    vfm_checkpoint: Optional[str] = None
    pretrained: Optional[str] = None
    device: Optional[str] = None
    download: bool = False
    cfg_options: Optional[dict] = None
    sam_checkpoint: Optional[str] = None
    sam_refine: bool = False
    max_side: int = 1600
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_classes: int = 200
    max_name_length: int = 200
    keep_custom: int = 2
    concurrency: int = 1
    queue_size: int = 16
    notice: Optional[str] = None
    alpha: float = 0.55
    show_paths: bool = False
    lookup_bytes: int = 64 << 20


def weight_options(method: str, options: AppOptions) -> dict:
    """The server's ``vfm_checkpoint`` and SAM options that ``method`` takes (``Segmenter`` / ``method_config``
    arguments): a method without a VFM or SAM would refuse them (:func:`~sclip_toolkit.apis.applicable_options`)."""
    if not (options.vfm_checkpoint or options.sam_checkpoint or options.sam_refine):
        return {}
    from ..apis import applicable_options, method_config
    cfg = method_config(method, options.backbone, options.checkpoint, None, options.pretrained, download=False,
                        cfg_options=options.cfg_options)
    return applicable_options(cfg, options.vfm_checkpoint, options.sam_checkpoint, options.sam_refine)


@dataclass
class CachedModel:
    """A kept segmenter and the lock its requests take."""
    segmenter: object
    lock: threading.Lock = field(default_factory=threading.Lock)  # a call changes the model's vocabulary


class ModelCache:
    """Segmenters built on first use and kept: one per method at its own settings, plus the ``keep_custom`` most
    recently used with changed settings. A model is used by one request at a time."""

    def __init__(self, options: AppOptions):
        self.options = options
        self._defaults: Dict[str, CachedModel] = {}
        self._custom: 'OrderedDict[tuple, CachedModel]' = OrderedDict()
        self._lock = threading.Lock()
        self._build_locks: Dict[tuple, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._defaults) + len(self._custom)

    def _find(self, key: tuple) -> Optional[CachedModel]:
        with self._lock:
            if not key[1]:
                return self._defaults.get(key[0])
            entry = self._custom.get(key)
            if entry is not None:
                self._custom.move_to_end(key)
            return entry

    def get(self, method: str, cfg_options: Dict) -> Tuple[CachedModel, float]:
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
            seg = Segmenter(method, o.backbone, o.device, checkpoint=o.checkpoint, pretrained=o.pretrained,
                            download=o.download, cfg_options={**(o.cfg_options or {}), **cfg_options},
                            **weight_options(method, o))
            entry = CachedModel(seg)
            with self._lock:
                if key[1]:
                    self._custom[key] = entry
                    while len(self._custom) > o.keep_custom:
                        self._custom.popitem(last=False)
                else:
                    self._defaults[method] = entry
            return entry, seg.load_seconds
