"""Post-processing steps, one registered class each (importing this package registers them)."""
from .base import (BandedScores, DenseScores, PostProcessStep, ScoreMap, StepContext, StreamedScores,
                   StreamingUnsupported, build_steps)
from .pamr import PAMR, pamr, pamr_affinity
from .regions import RegionVote, region_vote
from .sam_refine import SAMRefinement
from .thresholds import AreaThreshold, ProbThreshold, Renormalize

__all__ = ['BandedScores', 'DenseScores', 'PostProcessStep', 'ScoreMap', 'StepContext', 'StreamedScores',
           'StreamingUnsupported', 'build_steps', 'PAMR', 'pamr', 'pamr_affinity', 'RegionVote', 'region_vote',
           'AreaThreshold', 'ProbThreshold', 'Renormalize', 'SAMRefinement']
