"""Classification heads: window features -> logits per name (importing this package registers them).

``base.py`` holds the contract (:class:`ClassifierHead`); one file per head.
"""
from .base import ClassifierHead
from .cosine import CosineHead
from .rfclip import RFCLIPHead, complete_linkage_clusters

__all__ = ['ClassifierHead', 'CosineHead', 'RFCLIPHead', 'complete_linkage_clusters']
