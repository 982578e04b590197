"""User-facing entry points: the ``Segmenter`` API (``segmenter.py``; its config ``method_config.py``, inputs
``inputs.py``, vocabularies ``classes.py``, results ``results.py``), running a config on single images
(``pipeline.py``) and evaluating a config (``evaluate.py``)."""
from ..exceptions import SegmenterError
from ..methods import available_methods
from .classes import parse_classes
from .inputs import EXAMPLE_CLASSES, EXAMPLE_IMAGE, check_max_side, downscale, load_image, load_scaled
from .method_config import applicable_options, method_config, resolve_device, split_backbone, uses_sam
from .pipeline import build_segmentor, prepare_inputs, run_segmentor
from .results import SegmentationResult
from .segmenter import Segmenter, parse_bytes

__all__ = ['build_segmentor', 'prepare_inputs', 'run_segmentor', 'Segmenter', 'SegmentationResult',
           'SegmenterError', 'available_methods', 'load_image', 'load_scaled', 'method_config', 'parse_classes',
           'applicable_options', 'uses_sam', 'EXAMPLE_IMAGE', 'EXAMPLE_CLASSES', 'check_max_side', 'downscale',
           'parse_bytes', 'resolve_device', 'split_backbone']
