"""User-facing entry points."""
from .inference import build_segmentor, prepare_inputs, run_segmentor

__all__ = ['build_segmentor', 'prepare_inputs', 'run_segmentor']
