"""User-facing entry points: the ``Segmenter`` API (``segmenter.py``; its config ``method_config.py``, inputs
``inputs.py``, vocabularies ``classes.py``, results ``results.py``), running a config on single images
(``pipeline.py``) and evaluating a config (``evaluate.py``)."""
from ..exceptions import SegmenterError
from ..methods import available_methods
from .classes import parse_classes
from .inputs import EXAMPLE_CLASSES, EXAMPLE_IMAGE, check_max_side, downscale, load_image
from .method_config import method_config, resolve_device, split_backbone
from .pipeline import build_segmentor, prepare_inputs, run_segmentor
from .results import SegmentationResult
from .segmenter import Segmenter, parse_bytes

__all__ = ['build_segmentor', 'prepare_inputs', 'run_segmentor', 'Segmenter', 'SegmentationResult',
           'SegmenterError', 'available_methods', 'load_image', 'method_config', 'parse_classes', 'EXAMPLE_IMAGE',
           'EXAMPLE_CLASSES', 'check_max_side', 'downscale', 'parse_bytes', 'resolve_device', 'split_backbone']
