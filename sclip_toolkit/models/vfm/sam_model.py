"""SAM (Kirillov et al., 2023) from the ``segment-anything`` package: building, weights, and the image encoding.

The modules are segment-anything's own (``ImageEncoderViT``, ``PromptEncoder``, ``MaskDecoder``), so a checkpoint in
SAM's published layout (``image_encoder.*``, ``prompt_encoder.*``, ``mask_decoder.*``) loads as it is, and the
encoder's numerics are the package's: its explicit softmax attention, not an SDPA kernel, which matters where
Trident thresholds the attention's cosine similarities (a 1e-7 change can flip an entry).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoint import CheckpointError, load_state_dict
from .weights import fetch_official_weights

SAM_ARCHS = {'vit_b': 'vit_base', 'vit_l': 'vit_large', 'vit_h': 'vit_huge'}
SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)


def sam_arch(model_type: str) -> str:
    """'vit_b' | 'vit_l' | 'vit_h' (SAM's names; 'vit_base' etc. accepted) -> the key of segment-anything's registry."""
    names = {v: k for k, v in SAM_ARCHS.items()}
    model_type = names.get(model_type, model_type)
    if model_type not in SAM_ARCHS:
        raise ValueError(f"unknown SAM model type {model_type!r}; valid: 'vit_b', 'vit_l', 'vit_h'")
    return model_type


def sam_weights_path(model_type: str, checkpoint: Optional[str], download: bool = True) -> Path:
    """The SAM checkpoint to load: ``checkpoint`` when given, else the official file in the torch hub cache
    (downloaded there when online; otherwise an error that names the URL and the place to put it)."""
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise CheckpointError(f'SAM checkpoint {path} does not exist (sam_checkpoint in the config, or '
                                  f'--sam-checkpoint on the command line)')
        return path
    try:
        return fetch_official_weights('sam', SAM_ARCHS[sam_arch(model_type)], 16, download=download)
    except CheckpointError as exc:
        raise CheckpointError(str(exc).replace('--vfm-checkpoint', '--sam-checkpoint')) from None


def build_sam(model_type: str, state: Optional[dict] = None, parts: Tuple[str, ...] = ('image_encoder',)) -> nn.Module:
    """segment-anything's ``Sam`` of ``model_type``, with the weights of ``state`` (SAM's layout) for ``parts``.

    Only the parts asked for are checked and loaded (the encoder for the affinities; the prompt encoder and mask
    decoder for the refinement); a missing or misshapen tensor is a :class:`CheckpointError` naming it.
    """
    try:
        from segment_anything import sam_model_registry
    except ImportError:  # pragma: no cover - installed by tools/setup_env.sh
        raise CheckpointError('SAM needs the segment-anything package: pip install segment-anything==1.0') from None
    with torch.device('meta'):
        sam = sam_model_registry[sam_arch(model_type)]()
    if state is None:
        return sam.to_empty(device='cpu')
    for part in parts:
        module = getattr(sam, part)
        own = module.state_dict()
        given = {k[len(part) + 1:]: v for k, v in state.items() if k.startswith(part + '.')}
        missing = [k for k in own if k not in given]
        wrong = [f'{k}: {tuple(given[k].shape)} vs {tuple(v.shape)}' for k, v in own.items()
                 if k in given and given[k].shape != v.shape]
        if missing or wrong:
            raise CheckpointError(f'the SAM checkpoint does not fit SAM {model_type} ({part}): missing '
                                  f'{[part + "." + k for k in missing[:4]]}, wrong shapes {wrong[:3]}; is it a '
                                  f'{model_type} checkpoint in segment-anything\'s layout?')
        module.load_state_dict({k: given[k].float().clone() for k in own}, assign=True)
    for name, sub in list(sam.named_children()):
        if name not in parts:
            setattr(sam, name, nn.Identity())  # unused parts are dropped, not left on the meta device
    return sam.eval().requires_grad_(False)


def load_sam(model_type: str, checkpoint: Optional[str], parts: Tuple[str, ...], download: bool = True
             ) -> Tuple[nn.Module, str]:
    """(SAM with ``parts`` loaded, the weights' identity for cache keys)."""
    path = sam_weights_path(model_type, checkpoint, download)
    from ..checkpoint import file_fingerprint
    return build_sam(model_type, load_state_dict(path), parts), f'{sam_arch(model_type)}:{file_fingerprint(path)}'


def resize_longest_side(rgb: np.ndarray, length: int = 1024) -> np.ndarray:
    """SAM's ``ResizeLongestSide.apply_image``: the longest side to ``length`` (PIL bilinear through torchvision)."""
    from segment_anything.utils.transforms import ResizeLongestSide
    return ResizeLongestSide(length).apply_image(rgb)


@dataclass
class SAMInput:
    """One image as SAM's encoder takes it: normalised, padded to a square (1, 3, S, S).

    Attributes:
        pixels: the encoder input; input_size: (h, w) of the resized image inside the padding; original_size: the
        size (H, W) of the image given (SAM's ``original_size``, the size masks are returned at).
    """
    pixels: torch.Tensor
    input_size: Tuple[int, int]
    original_size: Tuple[int, int]


def sam_input(rgb: np.ndarray, img_size: int = 1024, device: Optional[torch.device] = None) -> SAMInput:
    """SamPredictor.set_image's preprocessing of an RGB uint8 image (H, W, 3)."""
    resized = resize_longest_side(rgb, img_size)
    x = torch.as_tensor(resized, device=device).permute(2, 0, 1)[None].float()
    mean = torch.tensor(SAM_PIXEL_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(SAM_PIXEL_STD, device=x.device).view(1, 3, 1, 1)
    x = (x - mean) / std
    h, w = x.shape[-2:]
    x = F.pad(x, (0, img_size - w, 0, img_size - h))
    return SAMInput(x, (int(h), int(w)), tuple(int(s) for s in rgb.shape[:2]))


def add_rel_pos(attn: torch.Tensor, q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor,
                rows: Tuple[int, int], size: Tuple[int, int]) -> torch.Tensor:
    """``attn`` (B, n, H*W) plus SAM's decomposed relative-position terms of a global block, for the queries of grid
    rows ``[r0, r1)`` (n = (r1 - r0) * W; q (B, n, d) unscaled), computed and added as SAM does for the whole grid.
    The tables span 2*S-1 offsets at the trained size S = H = W (the encoder always sees its square input)."""
    (h, w), (r0, r1) = size, rows
    if rel_pos_h.shape[0] != 2 * h - 1 or rel_pos_w.shape[0] != 2 * w - 1:
        raise ValueError(f'relative-position tables of {rel_pos_h.shape[0]}/{rel_pos_w.shape[0]} offsets do not fit '
                         f'a {h}x{w} grid')
    ky, kx = torch.arange(h, device=q.device), torch.arange(w, device=q.device)
    rh = rel_pos_h[torch.arange(r0, r1, device=q.device)[:, None] - ky[None] + h - 1]  # (r1-r0, H, d)
    rw = rel_pos_w[kx[:, None] - kx[None] + w - 1]  # (W, W, d)
    b, n = q.shape[0], (r1 - r0) * w
    r_q = q.reshape(b, r1 - r0, w, q.shape[-1])
    rel_h = torch.einsum('bhwc,hkc->bhwk', r_q, rh)
    rel_w = torch.einsum('bhwc,wkc->bhwk', r_q, rw)
    out = attn.view(b, r1 - r0, w, h, w) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
    return out.view(b, n, h * w)
