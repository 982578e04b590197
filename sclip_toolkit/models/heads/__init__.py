"""Classification heads: window features -> logits per name (importing this package registers them)."""
from .rfclip import ClassifierHead, CosineHead, RFCLIPHead, complete_linkage_clusters

__all__ = ['ClassifierHead', 'CosineHead', 'RFCLIPHead', 'complete_linkage_clusters']
