"""sclip_toolkit: training-free open-vocabulary semantic segmentation with CLIP, as an MMSegmentation plugin.

Importing the package registers its segmentor, CLIP wrapper, attention variants and datasets in mmseg's registries.
"""
from .version import __version__
from . import models  # noqa: F401  (registration)
from . import datasets  # noqa: F401  (registration)
from . import evaluation  # noqa: F401  (registration: the test loop, metric and hooks that configs name)
from .apis.segmenter import Segmenter  # the Python API

__all__ = ['Segmenter', '__version__']
