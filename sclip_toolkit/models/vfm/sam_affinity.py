"""SAM's image encoder as a whole-image affinity source (Trident: Shi et al., ICCV 2025; github.com/YuHengsss/Trident).

SAM's encoder runs once on the whole image (its longest side resized to 1024, zero-padded to a square). Its last
block is a global attention block; from it Trident reads the attention probabilities ``A`` (heads, N, N) and the
values ``v`` (heads, N, d), both cut to the grid cells that hold image (the padding is dropped after the softmax):

* ``S`` = cosine similarity of the values, per head; a row's threshold is ``cos_fac`` x the mean of ``S`` over
  heads and columns, at most 0.9 (and, with ``refine_neg_cos=False``, 0.6 where it is negative);
* ``A`` is kept where ``S`` exceeds the threshold, averaged over heads, and each row renormalised to sum 1.

The result (M, M), M = the image's grid cells, is the matrix that mixes the spliced CLIP features globally. The
attention is computed ``row_chunk`` grid rows at a time, so the (heads, 4096, 4096) map is never held whole.

Encodings are cached on disk per image (like region masks: keyed by the image's pixels, the weights' identity and
the settings), so a second evaluation skips the encoder.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from .sam_model import SAMInput, add_rel_pos, load_sam, sam_input


@dataclass
class SAMEncoding:
    """What Trident reads from SAM for one image.

    Attributes:
        weights: the affinity matrices (M_i, M_i), one per part of the image (two halves for Cityscapes, else one).
        grids: each part's grid (h_i, w_i) of encoder cells holding image.
        embedding: SAM's image embedding (1, C, 64, 64) of the whole image, for the mask decoder (when asked for).
        input_size / original_size: SAM's sizes for that embedding (resized, and as given).
    """
    weights: List[torch.Tensor]
    grids: List[Tuple[int, int]]
    embedding: Optional[torch.Tensor] = None
    input_size: Optional[Tuple[int, int]] = None
    original_size: Optional[Tuple[int, int]] = None
    seconds: dict = field(default_factory=dict)

    def to(self, device) -> 'SAMEncoding':
        emb = self.embedding.to(device) if self.embedding is not None else None
        return SAMEncoding([w.to(device) for w in self.weights], self.grids, emb, self.input_size,
                           self.original_size, self.seconds)


def module_digest(module: nn.Module) -> str:
    """A short digest of a module's tensors (names and values): the identity of weights given as a module."""
    digest = hashlib.sha1()
    for name, value in module.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def affinity_cache_root() -> Path:
    """``$SCLIP_CACHE_DIR/sam_affinity`` or ``~/.cache/sclip_toolkit/sam_affinity``."""
    root = os.environ.get('SCLIP_CACHE_DIR')
    return (Path(root) if root else Path.home() / '.cache' / 'sclip_toolkit') / 'sam_affinity'


def trident_affinity(attn: torch.Tensor, v_unit: torch.Tensor, rows: slice, cos_fac: float, refine_neg_cos: bool
                     ) -> torch.Tensor:
    """Rows ``rows`` of Trident's affinity from the attention rows ``attn`` (heads, n, M) of those queries and the
    unit-norm values ``v_unit`` (heads, M, d) of all M image cells: (n, M), rows summing to 1."""
    sim = v_unit[:, rows] @ v_unit.transpose(1, 2)  # (heads, n, M) cosine similarities
    thresh = cos_fac * sim.mean(dim=0, keepdim=True).mean(dim=-1, keepdim=True)
    if not refine_neg_cos:
        thresh = torch.where(thresh < 0.0, 0.6, thresh)
    thresh = torch.where(thresh > 0.9, 0.9, thresh)
    kept = torch.where(sim > thresh, attn, torch.zeros_like(attn)).mean(dim=0)
    return kept / kept.sum(dim=-1, keepdim=True)


@torch.no_grad()
def encode_affinity(encoder: nn.Module, x: SAMInput, stride: int, cos_fac: float, refine_neg_cos: bool,
                    embedding: bool = False, row_chunk: int = 8) -> Tuple[torch.Tensor, Tuple[int, int], Optional[
                        torch.Tensor]]:
    """Trident's affinity (M, M) of one SAM input, its grid (h, w) of image cells (``input_size // stride``), and
    SAM's image embedding (1, C, S/16, S/16) when ``embedding`` (else None).

    Every block but the last runs as segment-anything runs it; the last (global) block's attention is computed
    ``row_chunk`` grid rows at a time with SAM's own operations, so it equals SAM's map cut into rows.
    """
    t = encoder.patch_embed(x.pixels)
    if encoder.pos_embed is not None:
        t = t + encoder.pos_embed
    for block in encoder.blocks[:-1]:
        t = block(t)
    last = encoder.blocks[-1]
    if last.window_size != 0:
        raise ValueError('Trident reads the last block of SAM\'s encoder, which must use global attention')
    b, h, w, _ = t.shape
    attn_mod = last.attn
    heads = attn_mod.num_heads
    qkv = attn_mod.qkv(last.norm1(t)).reshape(b, h * w, 3, heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.reshape(3, b * heads, h * w, -1).unbind(0)
    vh, vw = x.input_size[0] // stride, x.input_size[1] // stride
    v_unit = F.normalize(v.view(heads, h, w, -1)[:, :vh, :vw].flatten(1, 2), dim=-1)
    affinity = q.new_empty(vh * vw, vh * vw)
    mixed = []
    for r0 in range(0, h if embedding else vh, row_chunk):
        r1 = min(r0 + row_chunk, h if embedding else vh)
        q_rows = q[:, r0 * w:r1 * w]
        attn = (q_rows * attn_mod.scale) @ k.transpose(-2, -1)
        if attn_mod.use_rel_pos:
            attn = add_rel_pos(attn, q_rows, attn_mod.rel_pos_h, attn_mod.rel_pos_w, (r0, r1), (h, w))
        attn = attn.softmax(dim=-1)
        if embedding:
            mixed.append(attn @ v)
        if r0 < vh:
            n = min(r1, vh) - r0
            cut = attn.view(heads, r1 - r0, w, h, w)[:, :n, :vw, :vh, :vw].reshape(heads, n * vw, vh * vw)
            affinity[r0 * vw:(r0 + n) * vw] = trident_affinity(cut, v_unit, slice(r0 * vw, (r0 + n) * vw),
                                                               cos_fac, refine_neg_cos)
    emb = None
    if embedding:
        out = torch.cat(mixed, dim=1).view(b, heads, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
        t = t + attn_mod.proj(out)
        t = t + last.mlp(last.norm2(t))
        emb = encoder.neck(t.permute(0, 3, 1, 2))
    return affinity, (vh, vw), emb


@MODELS.register_module()
class SAMAffinity(nn.Module):
    """SAM's encoder as a whole-image affinity source: RGB image -> :class:`SAMEncoding`.

    Args:
        model_type: 'vit_b' | 'vit_l' | 'vit_h'.
        checkpoint: a SAM checkpoint in the published layout (segment-anything's key names); None: the official
            file from the torch hub cache, downloaded when online.
        cos_fac / refine_neg_cos: Trident's similarity threshold (see the module docstring).
        stride: SAM's patch size (16): image cells are ``input_size // stride``.
        halves: encode the left and right halves separately (Trident's Cityscapes setting).
        embedding: also keep SAM's image embedding of the whole image (the mask decoder needs it).
        cache_dir: where encodings are kept: a folder; None / True: the default (:func:`affinity_cache_root`);
            False: no disk cache.
        row_chunk: grid rows of the last block's attention computed at once (memory: heads x rows x 64 x 4096).
        download: fetch the official weights when they are not cached.
        model: a built segment-anything ``Sam`` (or its image encoder) to use instead of the weights file.
    """

    def __init__(self, model_type: str = 'vit_b', checkpoint: Optional[str] = None, cos_fac: float = 1.2,
                 refine_neg_cos: bool = True, stride: int = 16, halves: bool = False, embedding: bool = False,
                 cache_dir: Union[str, bool, None] = False, row_chunk: int = 8, download: bool = True,
                 model: Optional[nn.Module] = None):
        super().__init__()
        if row_chunk < 1:
            raise ValueError(f'SAMAffinity row_chunk must be >= 1, got {row_chunk}')
        if model is None:
            model, self.weights_id = load_sam(model_type, checkpoint, ('image_encoder',), download)
        else:
            self.weights_id = 'given:' + module_digest(model)
        self.encoder = getattr(model, 'image_encoder', model)
        self.model_type, self.checkpoint = model_type, checkpoint
        self.cos_fac, self.refine_neg_cos, self.stride = float(cos_fac), bool(refine_neg_cos), int(stride)
        self.halves, self.embedding, self.cache_dir, self.row_chunk = halves, embedding, cache_dir, int(row_chunk)

    @property
    def device(self) -> torch.device:
        return self.encoder.patch_embed.proj.weight.device

    def setting(self) -> dict:
        """Everything that changes an encoding: the cache key (with the image's pixels)."""
        return dict(weights=self.weights_id, cos_fac=self.cos_fac, refine_neg_cos=self.refine_neg_cos,
                    stride=self.stride, halves=self.halves, embedding=self.embedding,
                    dtype=str(self.encoder.patch_embed.proj.weight.dtype))

    def _encode(self, rgb: np.ndarray, embedding: bool):
        x = sam_input(rgb, self.encoder.img_size, self.device)
        x.pixels = x.pixels.to(self.encoder.patch_embed.proj.weight.dtype)
        return x, encode_affinity(self.encoder, x, self.stride, self.cos_fac, self.refine_neg_cos, embedding,
                                  self.row_chunk)

    def compute(self, rgb: np.ndarray) -> SAMEncoding:
        """The encoding of an RGB uint8 image (H, W, 3), without the cache."""
        if not self.halves:
            x, (weights, grid, emb) = self._encode(rgb, self.embedding)
            return SAMEncoding([weights], [grid], emb, x.input_size if emb is not None else None,
                               x.original_size if emb is not None else None)
        half = rgb.shape[1] // 2
        parts = [self._encode(np.ascontiguousarray(part), False)[1] for part in (rgb[:, :half], rgb[:, half:])]
        enc = SAMEncoding([p[0] for p in parts], [p[1] for p in parts])
        if self.embedding:  # the mask decoder sees the whole image
            x, (_, _, emb) = self._encode(rgb, True)
            enc.embedding, enc.input_size, enc.original_size = emb, x.input_size, x.original_size
        return enc

    def cache_path(self, rgb: np.ndarray) -> Optional[Path]:
        if self.cache_dir is False:
            return None
        root = affinity_cache_root() if self.cache_dir in (None, True) else Path(self.cache_dir).expanduser()
        key = hashlib.sha1(json.dumps(self.setting(), sort_keys=True).encode()).hexdigest()[:16]
        image = hashlib.sha1(np.ascontiguousarray(rgb).tobytes() + str(rgb.shape).encode()).hexdigest()
        return root / f'SAMAffinity-{key}' / f'{image}.pt'

    def forward(self, rgb: np.ndarray) -> SAMEncoding:
        """The encoding of an RGB uint8 image (H, W, 3), from the disk cache when it holds it."""
        path = self.cache_path(rgb)
        if path is not None and path.is_file():
            try:
                saved = torch.load(path, map_location='cpu', weights_only=True)
                return SAMEncoding(saved['weights'], [tuple(g) for g in saved['grids']], saved['embedding'],
                                   saved['input_size'], saved['original_size']).to(self.device)
            except (RuntimeError, KeyError, EOFError):  # a damaged file is recomputed and replaced
                pass
        enc = self.compute(rgb)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f'{path.stem}.{os.getpid()}.tmp')
            torch.save(dict(weights=[w.cpu() for w in enc.weights], grids=[list(g) for g in enc.grids],
                            embedding=None if enc.embedding is None else enc.embedding.cpu(),
                            input_size=enc.input_size, original_size=enc.original_size), tmp)
            tmp.replace(path)  # atomic: a parallel run never reads half a file
        return enc

    def extra_repr(self) -> str:
        return (f'model_type={self.model_type}, cos_fac={self.cos_fac}, refine_neg_cos={self.refine_neg_cos}, '
                f'halves={self.halves}, embedding={self.embedding}, weights={self.weights_id}')
