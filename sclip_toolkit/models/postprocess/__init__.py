"""Post-processing steps, one registered class each (importing this package registers them).

``base.py`` holds the contract (:class:`PostProcessStep`, :class:`StepContext`, :func:`build_steps`); the score maps
that scores-stage steps receive are in ``models/scoring/``.
"""
from .base import PostProcessStep, StepContext, build_steps
from .pamr import PAMR, pamr, pamr_affinity
from ..scoring.base import region_vote
from .regions import RegionVote
from .sam_refine import SAMRefinement
from .thresholds import AreaThreshold, ProbThreshold, Renormalize

__all__ = ['PostProcessStep', 'StepContext', 'build_steps', 'PAMR', 'pamr', 'pamr_affinity', 'RegionVote',
           'region_vote', 'AreaThreshold', 'ProbThreshold', 'Renormalize', 'SAMRefinement']
