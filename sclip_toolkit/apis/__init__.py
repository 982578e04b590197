"""User-facing entry points."""
from .inference import build_segmentor, prepare_inputs, run_segmentor
from .segmenter import (EXAMPLE_CLASSES, EXAMPLE_IMAGE, SegmentationResult, Segmenter, SegmenterError,
                        available_methods, load_image, load_scaled, method_config, parse_classes)

__all__ = ['build_segmentor', 'prepare_inputs', 'run_segmentor', 'Segmenter', 'SegmentationResult',
           'SegmenterError', 'available_methods', 'load_image', 'load_scaled', 'method_config', 'parse_classes',
           'EXAMPLE_IMAGE',
           'EXAMPLE_CLASSES']
