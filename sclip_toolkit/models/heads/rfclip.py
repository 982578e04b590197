"""RF-CLIP's classification head: names adapted to each window, plus a global-semantics term."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from .base import ClassifierHead


def complete_linkage_clusters(names: torch.Tensor, threshold: float) -> torch.Tensor:
    """Cluster labels (Q,) 0..K-1 of name embeddings (Q, E): complete linkage on cosine distances, cut at
    ``threshold`` (scipy's fcluster 'distance' criterion).

    As RF-CLIP: sklearn's cosine distances (float32 input stays float32, fp16 is computed in float64, as sklearn
    upcasts it), scipy's condensed form and linkage.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform
    from sklearn.metrics.pairwise import cosine_distances

    if names.shape[0] < 2:  # linkage needs two observations; one name is its own cluster
        return torch.zeros(names.shape[0], dtype=torch.long)
    array = names.detach().cpu()
    array = array.numpy() if array.dtype == torch.float32 else array.double().numpy()
    tree = linkage(squareform(cosine_distances(array)), method='complete')
    return torch.from_numpy(fcluster(tree, t=threshold, criterion='distance').astype(np.int64) - 1)


@MODELS.register_module()
class RFCLIPHead(ClassifierHead):
    """RF-CLIP's classifier: hierarchical prompt adaptation plus a global-semantics term (docs/methods.md#rf-clip).

    Names are clustered once per vocabulary (:func:`complete_linkage_clusters`). For each window, g = cos(global
    CLS embedding, names) (Q,); in every cluster only the name with the largest g moves: towards the normalised
    mean of the ``topk`` window patches most similar to it, ``t' = normalize((1 - mean_vector_weight) * t +
    mean_vector_weight * m)``. Logits = ``(1 - global_semantics_weight) * feats @ names'^T +
    global_semantics_weight * g``.

    Args:
        global_semantics_weight / mean_vector_weight / h_threshold: the reference's per-dataset settings.
        global_source: 'image': the CLS embedding of the whole (resized) image, computed once per image (the
            reference re-encodes it for every window, with the same result); 'crop': each window's own CLS (the
            reference's Cityscapes config).
        topk: patches averaged for the mean vector (the reference's 2).
    """

    needs_all_names = True

    def __init__(self, global_semantics_weight: float = 0.0, mean_vector_weight: float = 0.0,
                 h_threshold: float = 0.0, global_source: str = 'image', topk: int = 2):
        super().__init__()
        if global_source not in ('image', 'crop'):
            raise ValueError(f"RFCLIPHead global_source must be 'image' or 'crop', got {global_source!r}")
        if not isinstance(topk, int) or topk < 1:
            raise ValueError(f'RFCLIPHead topk must be an int >= 1, got {topk!r}')
        if not 0.0 <= float(h_threshold):
            raise ValueError(f'RFCLIPHead h_threshold is a cosine distance >= 0, got {h_threshold!r}')
        self.global_semantics_weight, self.mean_vector_weight = float(global_semantics_weight), float(mean_vector_weight)
        self.h_threshold, self.global_source, self.topk = float(h_threshold), global_source, topk
        self._clusters: Optional[Tuple[torch.Tensor, torch.Tensor]] = None  # (names, membership (K, Q) bool)

    def membership(self, names: torch.Tensor) -> torch.Tensor:
        """(K, Q) bool: name q is in cluster k; computed once per vocabulary (cached on the names tensor)."""
        if self._clusters is None or self._clusters[0].shape != names.shape or \
                not torch.equal(self._clusters[0], names):
            labels = complete_linkage_clusters(names, self.h_threshold).to(names.device)
            member = labels[None, :] == torch.arange(int(labels.max()) + 1, device=names.device)[:, None]
            self._clusters = (names, member)
        return self._clusters[1]

    def prepare(self, clip, image: torch.Tensor, crops) -> None:
        if self.global_source == 'crop' or 'global' in crops.extras:
            return
        if 'cls' not in crops.extras:
            raise ValueError(f'RFCLIPHead needs the CLS embedding that the attention variant hands on '
                             f'(ctx.extras["cls"]); {type(clip.final_attn).__name__} gives none: use RFCLIPAttention')
        whole = len(crops.boxes) == 1 and crops.padded_shape == tuple(crops.image_shape)
        if whole:  # the only window is the image itself: its CLS is the image's
            crops.extras['global'] = crops.extras['cls']
            return
        extras: Dict[str, torch.Tensor] = {}
        clip.encode_dense(image, extras=extras)
        crops.extras['global'] = extras['cls'].expand(len(crops.boxes), -1)

    def forward(self, feats: torch.Tensor, names: torch.Tensor, extras: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits (B, N, Q) of unit-norm window features (B, N, E) for all names (Q, E)."""
        key = 'global' if self.global_source == 'image' else 'cls'
        if key not in extras:
            raise ValueError(f'RFCLIPHead: no {key!r} embedding per window; use RFCLIPAttention (and the '
                             f'segmentor, which calls the head\'s prepare())')
        names = names.to(feats.dtype)
        cls = extras[key].to(feats.dtype)
        glob = (cls / cls.norm(dim=-1, keepdim=True)) @ names.t()  # (B, Q)
        member = self.membership(names)  # (K, Q)
        # the name with the largest g in each cluster (first on ties, as numpy's argmax)
        best = glob[:, None, :].masked_fill(~member, -float('inf')).argmax(dim=-1)  # (B, K)
        picked = F.normalize(names[best], dim=-1)  # (B, K, E)
        sims = F.normalize(feats, dim=-1) @ picked.transpose(1, 2)  # (B, N, K)
        top = sims.topk(min(self.topk, feats.shape[1]), dim=1).indices  # (B, k, K)
        b, k, n_clusters = top.shape
        near = feats.gather(1, top.reshape(b, k * n_clusters, 1).expand(-1, -1, feats.shape[-1]))
        mean = F.normalize(near.view(b, k, n_clusters, -1).mean(dim=1), dim=-1)  # (B, K, E)
        w = self.mean_vector_weight
        moved = F.normalize((1 - w) * picked + w * mean, dim=-1)
        adapted = names.expand(b, -1, -1).scatter(1, best[..., None].expand(-1, -1, names.shape[1]), moved)
        logits = feats @ adapted.transpose(1, 2)  # (B, N, Q)
        gsw = self.global_semantics_weight
        return logits * (1 - gsw) + glob[:, None, :] * gsw

    def extra_repr(self) -> str:
        return (f'global_semantics_weight={self.global_semantics_weight}, mean_vector_weight='
                f'{self.mean_vector_weight}, h_threshold={self.h_threshold}, global_source={self.global_source!r}')
