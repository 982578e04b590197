"""``Segmenter``: segment any image with any words, through the registered ``OVSegmentor`` and its configs.

    seg = Segmenter('sclip', device='cpu')
    result = seg('photo.jpg', ['sky, cloud', 'tree', 'person, man, woman'])
    result.labels      # (H, W) class index per pixel
    result.scores      # (C, H, W) class probabilities (None for images too large to keep them; see max_memory)

The model is built from the method's base config (``configs/_base_/methods/<method>.py``: the method's own
inference settings, no dataset), without the score thresholds (a free-form vocabulary has no background class).
Images go through the same ``data_preprocessor`` + ``predict`` as evaluation.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional, Union

import torch

from ..exceptions import SegmenterError
from ..methods import available_methods  # noqa: F401  (part of this API)
from ..models.scoring import label_dtype
from ..models.text import flatten_names
from .classes import ClassesLike, parse_classes
from .inputs import DEFAULT_MAX_PIXELS, ImageInput, check_max_side, load_scaled
from .method_config import method_config, resolve_device
from .pipeline import build_segmentor, run_segmentor
from .results import SegmentationResult


DEFAULT_MAX_MEMORY = 2 << 30
_UNITS = {'': 1, 'B': 1, 'K': 1 << 10, 'KB': 1 << 10, 'KIB': 1 << 10, 'M': 1 << 20, 'MB': 1 << 20, 'MIB': 1 << 20,
          'G': 1 << 30, 'GB': 1 << 30, 'GIB': 1 << 30}


def parse_bytes(value: Union[int, str], what: str = 'max_memory') -> int:
    """Bytes from an int or a string such as '2GB', '1.5G', '500MB' (binary units)."""
    if isinstance(value, str):
        text = value.strip().upper().replace(' ', '')
        number = text.rstrip('KMGIB')
        unit = text[len(number):]
        try:
            value = float(number) * _UNITS[unit]
        except (ValueError, KeyError):
            raise SegmenterError(f"{what} must be a number of bytes or a size such as '2GB' or '500MB', got "
                                 f"{value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 64 << 20:
        raise SegmenterError(f'{what} must be at least 64MB, got {value!r}')
    return int(value)


class Segmenter:
    """Open-vocabulary segmentation of single images with one method; the vocabulary can change per call.

    Args:
        method: any of :func:`available_methods` ('sclip', 'naclip', 'clearclip', 'proxyclip', 'scclip', the
            baselines 'vanilla' and 'maskclip', and methods added through ``$SCLIP_METHOD_PATH``).
        backbone: 'ViT-B/16' (default), 'ViT-L/14', ... (OpenAI weights from ``~/.cache/clip`` /
            ``$SCLIP_CLIP_CACHE``), or a checkpoint file.
        device: 'cpu', 'cuda', 'cuda:1', or None for CUDA when available.
        classes: the vocabulary to start with (see :func:`parse_classes`); may instead be given to each call.
        checkpoint / vfm_checkpoint / pretrained / download / config / cfg_options: see :func:`method_config`.
        progress: report the slow steps (weights, text embeddings, crops) on stderr.
        max_memory: bytes (or '2GB', '500MB') that segmenting one image may use beyond the model and the input
            image (default 2 GiB): full-resolution scores are kept only when the dense path fits half of it, and
            larger images are labelled in row bands within a quarter of it. Labels are the same either way.
        max_side: downscale every input so its longer side is at most this many pixels before segmenting
            (None: never); the result says so (``original_size``, ``notes``). Larger files are decoded reduced.
        max_pixels: image files with more pixels (read from the header, before decoding) are refused with a
            SegmenterError (default 100 million; None: no limit).
        sam_checkpoint / sam_refine: SAM's weights and Trident's SAM refinement (see :func:`method_config`).

    Threads: one Segmenter may be called from several threads, each call with its own ``classes``; the calls share
    one model, so they take turns on it (images are decoded in parallel) and each gives exactly what it gives
    alone. A call without ``classes`` uses the last vocabulary given, which under threads may be another thread's:
    give every call its classes there. README.md ("Threads and processes") says what else is safe to share.
    """

    def __init__(self, method: str = 'sclip', backbone: Optional[str] = None, device: Optional[str] = None,
                 classes: Optional[ClassesLike] = None, checkpoint: Optional[str] = None,
                 vfm_checkpoint: Optional[str] = None, pretrained: Optional[str] = None, download: bool = True,
                 config: Optional[str] = None, cfg_options: Optional[dict] = None, progress: bool = False,
                 max_memory: Union[int, str, None] = None, max_side: Optional[int] = None,
                 max_pixels: Optional[int] = DEFAULT_MAX_PIXELS, sam_checkpoint: Optional[str] = None,
                 sam_refine: bool = False):
        self.progress = progress
        if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int)
                                       or max_pixels < 1):
            raise SegmenterError(f'max_pixels must be a whole number of pixels >= 1 or None, got {max_pixels!r}')
        self.max_pixels = max_pixels
        self.max_memory = parse_bytes(max_memory, 'max_memory') if max_memory is not None else DEFAULT_MAX_MEMORY
        self.max_side = check_max_side(max_side)
        self.device = resolve_device(device)
        self.cfg = method_config(method, backbone, checkpoint, vfm_checkpoint, pretrained, download, config,
                                 cfg_options, sam_checkpoint, sam_refine)
        self.method = method.lower() if config is None else Path(str(config)).stem
        self.backbone, self.checkpoint = self.cfg.model.clip.name, self.cfg.model.clip.get('checkpoint')
        # The text classifier needs a vocabulary to be built; a placeholder until the caller gives one.
        self.cfg.model.text_encoder.class_names = ['object']
        self._classes = None  # the default vocabulary, parsed
        # The model holds per-call state (the vocabulary it scores, score keeping, hooks): one call at a time.
        self._lock = threading.RLock()
        start = time.perf_counter()
        self._say(f'loading {self.method} ({self.checkpoint or self.backbone}) on {self.device} ...')
        self.model = build_segmentor(self.cfg, self.device)
        self.model.max_score_bytes = self.max_memory // 4
        self.load_seconds = time.perf_counter() - start
        self._say(f'loaded {self.method} in {self.load_seconds:.1f} s')
        if classes is not None:
            self.set_classes(classes)

    def _say(self, message: str) -> None:
        if self.progress:
            print(f'[sclip_toolkit] {message}', file=sys.stderr, flush=True)

    @property
    def classes(self) -> List[List[str]]:
        """The current vocabulary (the last one given), for calls without ``classes``: every class's names."""
        with self._lock:
            self._use(None)
            return [list(c) for c in self.model.classes]

    def set_classes(self, classes: ClassesLike) -> None:
        """Switch the vocabulary for calls without ``classes``; name embeddings are computed on first use and cached
        per vocabulary."""
        parsed = parse_classes(classes)
        with self._lock:
            self.model.set_vocabulary(parsed, separator=None)  # checks it now (duplicate names, empty file)
            self._classes = parsed

    def _use(self, parsed) -> None:
        """Point the model at a call's parsed vocabulary, which stays the current one (None: the current one); called
        with the lock held."""
        if parsed is None:
            if self._classes is None:
                raise SegmenterError('no classes yet: pass classes= to Segmenter(...) or to the call')
            parsed = self._classes
        self.model.set_vocabulary(parsed, separator=None)
        self._classes = parsed

    def embed_classes(self, classes: Optional[ClassesLike] = None) -> float:
        """Compute (or fetch from the cache) a vocabulary's text embeddings (default: the current one); returns the
        seconds spent."""
        with self._lock:
            self._use(parse_classes(classes) if classes is not None else None)
            return self._embed()

    def _embed(self) -> float:
        """:meth:`embed_classes` for the vocabulary the model holds (lock held)."""
        start = time.perf_counter()
        names, _ = flatten_names(self.model.classes)
        text = self.model.text_encoder
        cached = text.is_cached(self.model.clip)
        if not cached:
            self._say(f'text embeddings: {len(self.model.classes)} classes, {len(names)} names x '
                      f'{len(text.templates)} prompts ...')
        self.model.class_embeddings()
        seconds = time.perf_counter() - start
        if not cached:
            self._say(f'text embeddings ready in {seconds:.1f} s')
        return seconds

    @torch.no_grad()
    def __call__(self, image: ImageInput, classes: Optional[ClassesLike] = None, return_scores: Optional[bool] = None,
                 max_side: Optional[int] = None, source: Optional[str] = None) -> SegmentationResult:
        """Segment one image.

        Args:
            image: a path, PIL image or RGB array (see :func:`load_image`).
            classes: the vocabulary for this and later calls (default: the current one). A call gets exactly its
                own vocabulary whatever other threads do meanwhile.
            return_scores: True: always return the (C, H, W) scores (their memory is not bounded); False: never;
                None: when they fit the memory bound (``max_memory``).
            max_side: as the constructor's, for this call.
            source: the file an array came from, for parts keyed by file name (precomputed region masks); a path
                given as ``image`` is its own source.
        """
        if source is None and isinstance(image, (str, os.PathLike)):
            source = str(image)
        side = check_max_side(max_side) if max_side is not None else self.max_side
        rgb, original = load_scaled(image, side, self.max_pixels)
        if original is not None:
            self._say(f'downscaled {original[1]}x{original[0]} to {rgb.shape[1]}x{rgb.shape[0]} (max_side)')
        parsed = parse_classes(classes) if classes is not None else None
        with self._lock:
            return self._segment(rgb, parsed, return_scores, source, original)

    def _segment(self, rgb, parsed, return_scores: Optional[bool], source: Optional[str],
                 original) -> SegmentationResult:
        """:meth:`__call__` after decoding, with the lock held: everything that reads or sets the model's state."""
        self._use(parsed)
        call_classes = [list(c) for c in self.model.classes]
        text_seconds = self._embed()
        start = time.perf_counter()
        # scores when asked for, or when the dense path fits half the bound (steps such as PAMR included)
        self.model.keep_scores = self.model.scoring.keep_scores_within(
            self.model.scoring_parts(), rgb.shape[:2], self.max_memory // 2, return_scores)
        try:
            with self._crop_progress():
                # a reversed view, not a copy: the pipeline copies it into its own tensor anyway
                sample = run_segmentor(self.model, self.cfg, [rgb[..., ::-1]], [source])[0]
        finally:
            self.model.keep_scores = None
        seconds = time.perf_counter() - start
        labels = sample.pred_sem_seg.data[0].cpu()
        labels = labels.to(label_dtype(len(call_classes))).numpy()
        scores = sums = None
        if 'seg_logits' in sample and return_scores is not False:
            scores = sample.seg_logits.data.float().cpu().numpy()
        elif 'seg_logits' in sample:  # computed but not wanted: keep what the summaries need
            chosen = sample.seg_logits.data.float().gather(0, sample.pred_sem_seg.data.long())[0].double()
            sums = torch.bincount(sample.pred_sem_seg.data[0].flatten().long(), weights=chosen.flatten(),
                                  minlength=len(call_classes)).cpu().numpy()
        elif 'label_score_sums' in sample:
            sums = sample.label_score_sums.cpu().numpy()
        return SegmentationResult(labels, scores, call_classes, rgb,
                                  dict(text_s=text_seconds, inference_s=seconds), original, sums)

    @contextmanager
    def _crop_progress(self) -> Iterator[None]:
        """A progress bar over the crops, fed by hooks on the preprocessor (its output size gives the number of
        windows) and on the last block's attention (called once per batch of crops)."""
        if not self.progress:
            yield
            return
        from tqdm import tqdm

        bars = []

        def on_preprocessed(_module, _args, output):
            h, w = output['inputs'].shape[-2:]
            total = len(self.model.inference.windows(h, w))
            bars.append(tqdm(total=total, unit='crop', desc=f'{self.method}: {h}x{w} input', file=sys.stderr))

        def on_crops(_module, args, _output):
            if bars:
                bars[-1].update(int(args[1].shape[0]))  # args: (block, tokens (B, T, D), ctx)

        hooks = [self.model.data_preprocessor.register_forward_hook(on_preprocessed),
                 self.model.clip.final_attn.register_forward_hook(on_crops)]
        try:
            yield
        finally:
            for hook in hooks:
                hook.remove()
            for bar in bars:
                bar.close()
