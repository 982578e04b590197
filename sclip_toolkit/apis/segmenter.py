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
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from PIL import Image

from ..config import apply_overrides, load_config
from ..methods import available_methods, method_base  # noqa: F401  (available_methods: part of this API)
from ..models.label_paths import label_dtype
from ..models.text import ClassNameError, flatten_names, parse_class_names, resolve_path
from .image_input import DEFAULT_MAX_PIXELS, ImageTooLargeError, decode_file
from .inference import build_segmentor, run_segmentor
from ..exceptions import ConfigError, ToolkitError

ASSETS_DIR = Path(__file__).resolve().parents[1] / 'assets'
# The bundled photo (CC0, see assets/README.md) and classes that suit it.
EXAMPLE_IMAGE = ASSETS_DIR / 'coffee.jpg'
EXAMPLE_CLASSES = ['coffee', 'cup', 'saucer, plate', 'spoon', 'wooden table, table']

ClassesLike = Union[str, os.PathLike, Sequence[Union[str, Sequence[str]]]]
ImageInput = Union[str, os.PathLike, np.ndarray, Image.Image]


class SegmenterError(ToolkitError, ValueError):
    """Bad arguments to :class:`Segmenter` (method, backbone, device, image, classes); says what would be right."""


# ---------------------------------------------------------------------------------------------------- methods
def method_config(method: str = 'sclip', backbone: Optional[str] = None, checkpoint: Optional[str] = None,
                  vfm_checkpoint: Optional[str] = None, pretrained: Optional[str] = None, download: bool = True,
                  config: Optional[str] = None, cfg_options: Optional[dict] = None) -> Config:
    """The config the API builds: a method base (or ``config``) with the backbone and free-form settings.

    Args:
        method: see :func:`available_methods`; ignored when ``config`` is given.
        backbone: OpenAI release ('ViT-B/16', 'ViT-L/14', ...), an open_clip architecture when ``pretrained`` is an
            open_clip tag, or a checkpoint file (then the same as ``checkpoint=``); None: the config's (OpenAI
            ViT-B/16 in every method base but CorrCLIP's, which uses MetaCLIP ViT-B/16 through open_clip). A
            backbone-specific base (``vitl14/<method>.py``) is used when one exists: SC-CLIP's layer indices depend
            on the depth.
        checkpoint: CLIP checkpoint file in the OpenAI layout; its architecture is read from the tensors, so pass
            the matching ``backbone`` name too when the method's settings depend on it (SC-CLIP with ViT-L/14).
        vfm_checkpoint: the vision foundation model's checkpoint (ProxyCLIP).
        pretrained: 'openai', or an open_clip pretrained tag; None: the config's ('openai'; CorrCLIP:
            'metaclip_fullcc').
        download: fetch missing official weights when online.
        config: any config file or name ('sclip_voc21') to use instead of the method base; its thresholds stay.
        cfg_options: further overrides, as ``--cfg-options`` (dotted keys).
    """
    backbone, checkpoint = split_backbone(backbone, checkpoint)
    if config is None:
        try:
            path = method_base(method.lower(), backbone)
        except ConfigError as exc:
            raise SegmenterError(str(exc)) from None
        cfg = _load(str(path), vfm_checkpoint, None)
        # A free-form vocabulary has no background class: no class 0 fallback, no area threshold (unless the
        # caller's own overrides below ask for them).
        cfg.model.post_process = [s for s in cfg.model.get('post_process', []) if not _uses_background(s)]
        try:
            apply_overrides(cfg, cfg_options)
        except ConfigError as exc:
            raise SegmenterError(str(exc)) from None
    else:
        cfg = _load(config, vfm_checkpoint, cfg_options)
    clip = cfg.model.clip
    clip.download = download
    if backbone:
        clip.name = backbone
    if pretrained:
        clip.pretrained = pretrained
    if checkpoint is not None:
        clip.checkpoint = str(checkpoint)
    if clip.get('vfm') is not None:
        clip.vfm.download = download
    # Users write 'a, b' or 'a; b' for synonyms: split on ';' when present, else on ','.
    cfg.model.text_encoder.separator = None
    # The API decides per call whether scores are kept (Segmenter: return_scores, max_memory).
    cfg.model.keep_scores = None
    return cfg


def _uses_background(step: dict) -> bool:
    from mmseg.registry import MODELS
    import sclip_toolkit.models  # noqa: F401  (registration)
    cls = MODELS.get(step['type']) if isinstance(step['type'], str) else step['type']
    return bool(getattr(cls, 'uses_background', False))


def _load(config: str, vfm_checkpoint: Optional[str], cfg_options: Optional[dict]) -> Config:
    try:
        return load_config(config, vfm_checkpoint=vfm_checkpoint, cfg_options=cfg_options)
    except ValueError as exc:  # e.g. a VFM checkpoint for a method without a VFM
        raise SegmenterError(str(exc).replace('--vfm-checkpoint', 'vfm_checkpoint')) from None


def split_backbone(backbone: Optional[str], checkpoint: Optional[str]) -> tuple:
    """(backbone name, checkpoint file or None): a backbone given as an existing file is a checkpoint."""
    if checkpoint is None and backbone and Path(backbone).expanduser().is_file():
        return Path(backbone).stem, str(Path(backbone).expanduser())
    return backbone, checkpoint


def resolve_device(device: Optional[Union[str, torch.device]]) -> torch.device:
    """None / 'auto': CUDA when available, else CPU; otherwise the named device, checked to exist."""
    if device in (None, 'auto'):
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise SegmenterError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:1' or None (auto)") from None
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise SegmenterError(f'device {device!r} was requested but CUDA is not available here; use device="cpu"')
    return dev


# ---------------------------------------------------------------------------------------------------- memory
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


def check_max_side(max_side: Optional[int], what: str = 'max_side') -> Optional[int]:
    if max_side is not None and (isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 16):
        raise SegmenterError(f'{what} must be a whole number of pixels >= 16, got {max_side!r}')
    return max_side


def downscale(rgb: np.ndarray, max_side: Optional[int]) -> Tuple[np.ndarray, Optional[Tuple[int, int]]]:
    """The image with its longer side at most ``max_side`` (area averaging), and its original (H, W) when it was
    downscaled (else None)."""
    height, width = rgb.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return rgb, None
    import cv2
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)), (height, width)


# ---------------------------------------------------------------------------------------------------- inputs
def _rgb_from_array(array: np.ndarray, what: str) -> np.ndarray:
    """(H, W), (H, W, 1|2|3|4) array of uint8/uint16/bool/float in [0, 1]/small ints -> (H, W, 3) uint8 RGB.

    16-bit values keep their high byte (``>> 8``), as OpenCV's colour decoding does for 16-bit files, so an array
    and the same picture read from disk give the same pixels. A second or fourth channel (alpha) is dropped.
    """
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 3 and array.shape[2] in (2, 4):
        array = array[..., :-1]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)) or 0 in array.shape[:2]:
        hint = ' (channels first? use array.transpose(1, 2, 0))' if array.ndim == 3 and array.shape[0] in (3, 4) \
            else ''
        raise SegmenterError(f'{what}: expected an (H, W) or (H, W, 3|4) image, got shape {array.shape}{hint}')
    if array.dtype == np.uint8:
        out = array
    elif array.dtype == np.uint16:
        out = (array >> 8).astype(np.uint8)
    elif array.dtype == np.bool_:
        out = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise SegmenterError(f'{what}: float images must hold values in [0, 1] (got {np.nanmin(array):.3g} .. '
                                 f'{np.nanmax(array):.3g}); for 0..255 data pass array.astype(np.uint8)')
        out = np.round(array * 255).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.integer) and array.min() >= 0 and array.max() <= 255:
        out = array.astype(np.uint8)
    else:
        raise SegmenterError(f'{what}: unsupported pixel type {array.dtype} (values {array.min()} .. {array.max()});'
                             f' give uint8, uint16, bool, or floats in [0, 1]')
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return np.ascontiguousarray(out)


def load_image(image: ImageInput, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Any supported image -> (H, W, 3) uint8 RGB.

    Args:
        image: a file path (decoded as the evaluation pipeline's ``LoadImageChecked`` does: OpenCV, colour,
            EXIF orientation applied; truncated or corrupt files raise SegmenterError naming the file), a PIL image
            (any mode: palette, grayscale, RGBA, 16-bit), or an RGB array (see
            :func:`_rgb_from_array` for the accepted shapes and types).
        max_pixels: files whose header announces more pixels are refused before decoding (None: no limit).
    """
    if isinstance(image, (str, os.PathLike)):
        return load_scaled(image, None, max_pixels)[0]
    if isinstance(image, Image.Image):
        if image.mode in ('I;16', 'I;16L', 'I;16B', 'I;16N', 'I'):
            array = np.asarray(image)
            if array.size and (array.min() < 0 or array.max() > 65535):
                raise SegmenterError(f'PIL image of mode {image.mode!r} has values {array.min()} .. {array.max()}, '
                                     f'outside 16 bits')
            return _rgb_from_array(array.astype(np.uint16), f'PIL image (mode {image.mode})')
        if image.mode not in ('L', 'LA', 'RGB', 'RGBA'):  # palette, 1-bit, CMYK, YCbCr, float, ...
            image = image.convert('RGB' if image.mode != 'F' else 'L')
        return _rgb_from_array(np.asarray(image), f'PIL image (mode {image.mode})')
    if isinstance(image, np.ndarray):
        return _rgb_from_array(image, 'image array')
    raise SegmenterError(f'image must be a file path, a PIL image or a numpy array, not {type(image).__name__}')


def load_scaled(image: ImageInput, max_side: Optional[int], max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
                how: str = 'max_pixels=N') -> Tuple[np.ndarray, Optional[Tuple[int, int]]]:
    """:func:`load_image` with the longer side at most ``max_side``, and the original (H, W) when it was scaled.

    Files are decoded reduced when they are larger than ``max_side`` (see :mod:`.image_input`); ``how`` says in the
    pixel-limit message how the caller raises the limit ('--max-megapixels N' on the command line).
    """
    if not isinstance(image, (str, os.PathLike)):
        return downscale(load_image(image), max_side)
    from ..datasets.loading import ImageLoadError
    path = Path(image).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f'image file {str(image)!r} not found')
    try:
        return decode_file(path, max_side, max_pixels, how)
    except ImageTooLargeError as exc:
        raise SegmenterError(str(exc)) from None
    except ImageLoadError as exc:
        raise SegmenterError(f'could not decode image {exc}') from None


def _class_file(text: Union[str, os.PathLike]) -> Optional[Path]:
    """The class-name file ``text`` names (relative to the working directory or the project), if it is one."""
    try:
        path = resolve_path(text, 'class-name file')
    except FileNotFoundError:
        return None
    return path if path.is_file() else None


def parse_classes(classes: ClassesLike, where: Optional[str] = None) -> Union[Path, List[List[str]]]:
    """A class-name file path, or classes as lists of names.

    Args:
        classes: a class-name file (one class per line, synonyms separated by ';' or ','); a string
            'sky, cloud; tree; person, man' (';' between classes, ',' between synonyms); or a list whose items are
            a class ('sky, cloud' or ['sky', 'cloud']).
        where: how errors name a class of a string or list (see :func:`parse_class_names`; default 'classes[i]').
    """
    if isinstance(classes, (str, os.PathLike)):
        path = _class_file(classes)
        if path is not None:
            return path
        text = str(classes).strip()
        if isinstance(classes, os.PathLike) or text.endswith('.txt'):
            raise ClassNameError(f'class-name file {text!r} not found (looked in {Path.cwd()})')
        parts = text.split(';')
        if len(parts) > 1 and not parts[-1].strip():  # tolerate a trailing ';'
            parts = parts[:-1]
        if not text:
            raise ClassNameError('no classes given; write e.g. "sky, cloud; tree; person"')
        return parse_class_names(parts, separator=',', where=where)
    return parse_class_names(list(classes), separator=None, where=where)


# ---------------------------------------------------------------------------------------------------- results
@dataclass
class SegmentationResult:
    """One segmented image.

    Attributes:
        labels: (H, W) class index of every pixel (indices into ``classes``), in the smallest unsigned/signed
            integer type that holds them (uint8 up to 256 classes).
        scores: (C, H, W) float32 class probabilities (the max over each class's names); None when they were not
            asked for and did not fit the memory bound (see :class:`Segmenter`).
        classes: every class's names, the first being its display name.
        image: (H, W, 3) uint8 RGB image that was segmented (downscaled when ``max_side`` asked for it).
        timing: seconds spent embedding the names ('text_s') and segmenting ('inference_s').
        original_size: (H, W) of the input when it was downscaled first (``max_side``), else None.
        label_score_sums: (C,) sum of the labelled class's score over its pixels, when ``scores`` is None.
    """
    labels: np.ndarray
    scores: Optional[np.ndarray]
    classes: List[List[str]]
    image: np.ndarray
    timing: Dict[str, float] = field(default_factory=dict)
    original_size: Optional[Tuple[int, int]] = None
    label_score_sums: Optional[np.ndarray] = None

    @property
    def notes(self) -> List[str]:
        """What a reader of the result should know: a downscaled input, scores left out."""
        out = []
        if self.original_size is not None:
            out.append(f'input downscaled from {self.original_size[1]}x{self.original_size[0]} to '
                       f'{self.labels.shape[1]}x{self.labels.shape[0]} (max_side); labels are at the smaller size')
        if self.scores is None:
            out.append('class scores not kept (they exceed the memory bound; pass return_scores=True to get them)')
        return out

    @property
    def class_names(self) -> List[str]:
        return [names[0] for names in self.classes]

    def pixel_shares(self) -> np.ndarray:
        """(C,) share of the image's pixels labelled with each class (sums to 1)."""
        counts = np.bincount(self.labels.ravel(), minlength=len(self.classes))
        return counts / max(1, self.labels.size)

    def mean_scores(self) -> np.ndarray:
        """(C,) each class's mean score over the pixels labelled with it (NaN for a class with no pixels)."""
        flat = self.labels.ravel()
        counts = np.bincount(flat, minlength=len(self.classes)).astype(np.float64)
        if self.scores is None:
            if self.label_score_sums is None:
                return np.full(len(self.classes), np.nan)
            sums = self.label_score_sums
        else:
            chosen = np.take_along_axis(self.scores.reshape(len(self.classes), -1), flat[None].astype(np.intp),
                                        axis=0)[0]
            sums = np.bincount(flat, weights=chosen, minlength=len(self.classes))
        with np.errstate(invalid='ignore', divide='ignore'):
            return np.where(counts > 0, sums / counts, np.nan)


# ---------------------------------------------------------------------------------------------------- segmenter
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
    """

    def __init__(self, method: str = 'sclip', backbone: Optional[str] = None, device: Optional[str] = None,
                 classes: Optional[ClassesLike] = None, checkpoint: Optional[str] = None,
                 vfm_checkpoint: Optional[str] = None, pretrained: Optional[str] = None, download: bool = True,
                 config: Optional[str] = None, cfg_options: Optional[dict] = None, progress: bool = False,
                 max_memory: Union[int, str, None] = None, max_side: Optional[int] = None,
                 max_pixels: Optional[int] = DEFAULT_MAX_PIXELS):
        self.progress = progress
        if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int)
                                       or max_pixels < 1):
            raise SegmenterError(f'max_pixels must be a whole number of pixels >= 1 or None, got {max_pixels!r}')
        self.max_pixels = max_pixels
        self.max_memory = parse_bytes(max_memory, 'max_memory') if max_memory is not None else DEFAULT_MAX_MEMORY
        self.max_side = check_max_side(max_side)
        self.device = resolve_device(device)
        self.cfg = method_config(method, backbone, checkpoint, vfm_checkpoint, pretrained, download, config,
                                 cfg_options)
        self.method = method.lower() if config is None else Path(str(config)).stem
        self.backbone, self.checkpoint = self.cfg.model.clip.name, self.cfg.model.clip.get('checkpoint')
        # The text classifier needs a vocabulary to be built; a placeholder until the caller gives one.
        self.cfg.model.text_encoder.class_names = ['object']
        self._has_classes = False
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
        """The current vocabulary: every class's names."""
        if not self._has_classes:
            raise SegmenterError('no classes yet: pass classes= to Segmenter(...) or to the call')
        return self.model.classes

    def set_classes(self, classes: ClassesLike) -> None:
        """Switch the vocabulary; name embeddings are computed on first use and cached per vocabulary."""
        self.model.set_vocabulary(parse_classes(classes), separator=None)
        self._has_classes = True

    def embed_classes(self) -> float:
        """Compute (or fetch from the cache) the current vocabulary's text embeddings; returns the seconds spent."""
        start = time.perf_counter()
        names, _ = flatten_names(self.classes)
        text = self.model.text_encoder
        cached = text.is_cached(self.model.clip)
        if not cached:
            self._say(f'text embeddings: {len(self.classes)} classes, {len(names)} names x '
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
            classes: the vocabulary for this and later calls (default: the current one).
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
        if classes is not None:
            self.set_classes(classes)
        text_seconds = self.embed_classes()
        start = time.perf_counter()
        keep = return_scores
        if keep is None:  # scores when the dense path fits the bound (steps such as PAMR included)
            keep = self.model.dense_bytes(rgb.shape[:2]) <= self.max_memory // 2
        self.model.keep_scores = keep
        if not keep and not (self.model.can_stream() or self.model.can_band()):
            self.model.keep_scores = None  # no label-only path for these steps: scores are computed, then dropped
        try:
            with self._crop_progress():
                # a reversed view, not a copy: the pipeline copies it into its own tensor anyway
                sample = run_segmentor(self.model, self.cfg, [rgb[..., ::-1]], [source])[0]
        finally:
            self.model.keep_scores = None
        seconds = time.perf_counter() - start
        labels = sample.pred_sem_seg.data[0].cpu()
        labels = labels.to(label_dtype(len(self.classes))).numpy()
        scores = sums = None
        if 'seg_logits' in sample and return_scores is not False:
            scores = sample.seg_logits.data.float().cpu().numpy()
        elif 'seg_logits' in sample:  # computed but not wanted: keep what the summaries need
            chosen = sample.seg_logits.data.float().gather(0, sample.pred_sem_seg.data.long())[0].double()
            sums = torch.bincount(sample.pred_sem_seg.data[0].flatten().long(), weights=chosen.flatten(),
                                  minlength=len(self.classes)).cpu().numpy()
        elif 'label_score_sums' in sample:
            sums = sample.label_score_sums.cpu().numpy()
        return SegmentationResult(labels, scores, [list(c) for c in self.classes], rgb,
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
