"""Vision foundation models (DINO, DINOv2, SAM, MAE) as dense feature providers (importing registers VFMFeatures)."""
from .features import CLIP_MEAN, CLIP_STD, DEFAULT_PATCH, IMAGENET_MEAN, IMAGENET_STD, VFMFeatures

__all__ = ['CLIP_MEAN', 'CLIP_STD', 'DEFAULT_PATCH', 'IMAGENET_MEAN', 'IMAGENET_STD', 'VFMFeatures']
