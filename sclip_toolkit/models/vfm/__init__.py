"""Vision foundation models (DINO, DINOv2, SAM, MAE) as dense feature providers (importing registers VFMFeatures).

``base.py`` holds the contract (:class:`FeatureProvider`) and the normalisation constants.
"""
from .base import CLIP_MEAN, CLIP_STD, DEFAULT_PATCH, IMAGENET_MEAN, IMAGENET_STD, FeatureProvider
from .features import VFMFeatures

__all__ = ['CLIP_MEAN', 'CLIP_STD', 'DEFAULT_PATCH', 'IMAGENET_MEAN', 'IMAGENET_STD', 'FeatureProvider',
           'VFMFeatures']
