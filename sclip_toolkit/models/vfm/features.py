"""Vision foundation models (DINO, DINOv2, SAM, MAE) as dense feature providers for ProxyCLIP.

``VFMFeatures`` (registered in mmseg's MODELS) takes the CLIP-normalised image the CLIP backbone sees, re-normalises
it to ImageNet statistics, resizes it where the family needs a fixed input (SAM: its 1024x1024 image size; MAE: the
size it was built for, the crop size in ProxyCLIP) and returns patch features (B, C, I, J) of one block.

Config example (ProxyCLIP's default, DINO ViT-B/8)::

    vfm=dict(type='VFMFeatures', family='dino', arch='vit_base', patch_size=8, checkpoint=None)

Reference behaviours (docs/methods.md): SAM's input is the crop stretched to 1024x1024 and MAE's the crop resized
to the size it was built for (``img_size``; the configs' crop padding to a multiple of 56 is the segmentor's
``pad_multiple``), as in the references. The architectures' numerics are pinned here (timm modules, each family's
positional-embedding rule, DINOv2's as in today's hub code) instead of whatever ``torch.hub`` serves. No forward
hook and no unused q/k/v. An unknown family is an error listing the valid ones; ProxyCLIP without a VFM is
``ProxyAttention(fallback='vanilla')``.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from ...exceptions import ConfigError
from ..checkpoint import CheckpointError, load_state_dict
from .backbones import VFMSpec, build_trunk, spec_from_state
from .base import CLIP_MEAN, CLIP_STD, DEFAULT_PATCH, IMAGENET_MEAN, IMAGENET_STD, FeatureProvider
from .stitching import finish_state, window_state
from .weights import ARCH_ALIASES, FAMILIES, check_family, fetch_official_weights, official_to_timm



def official_settings(family: str, arch: str, patch_size: Optional[int] = None, registers: Optional[int] = None
                      ) -> Tuple[str, str, int, int]:
    """(family, arch, patch size, registers) naming an official weights file, the family's defaults filled in: the
    patch size of its published models (MAE ViT-H: 14), DINOv2's 4 register tokens."""
    arch = ARCH_ALIASES.get(arch, arch)
    if patch_size is None:
        patch_size = 14 if (family, arch) == ('mae', 'vit_huge') else DEFAULT_PATCH[family]
    if registers is None:
        registers = 4 if family == 'dinov2' else 0
    return family, arch, patch_size, registers


@MODELS.register_module()
class VFMFeatures(FeatureProvider):
    """Dense patch features of a vision foundation model, for images normalised for CLIP.

    Args:
        family: 'dino', 'dinov2', 'sam' or 'mae'.
        arch: 'vit_small' | 'vit_base' | 'vit_large' | 'vit_huge' ('vit_b' etc. accepted): which official weights
            to use when ``checkpoint`` is None. A local checkpoint's architecture is read from its tensor shapes.
        patch_size: patch size of the official weights (default: DINO 8, DINOv2 14, SAM 16, MAE 16 (14 for H)).
        registers: DINOv2 register tokens of the official weights (default 4, ProxyCLIP's ``dinov2_vitb14_reg``).
        checkpoint: local checkpoint file in the family's official layout; None = the official file, from the
            torch hub cache or downloaded there.
        layer: block whose (normalised) output is returned; -1 = last (SAM: the neck output).
        img_size: MAE only: the square input size (ProxyCLIP: the crop size); the positional grid is resized to it
            at load time. Default: the checkpoint's pretraining size.
        num_heads: heads of a plain ViT whose width is not a published size (they cannot be read from shapes).
        pos_interp: DINOv2 only: dict(offset=float, antialias=bool) overriding the hub's rule (offset 0.1 without
            registers; size-based antialiased with registers).
        input_mean / input_std: normalisation of the incoming images, on [0, 1] pixels (default: CLIP's).
output: 'features' (block ``layer``'s normalised output), 'qk' (plain ViTs: the sum of block ``layer``'s
            query and key projections, CorrCLIP's correlation features) or 'block' (plain ViTs: OV-Stitcher's
            block ``layer`` recomputed from its q/k/v and residual inputs, no CLS; see ``block_residual``).
        block_residual: output='block' only: the residual base, 'final_norm' (OV-Stitcher: the block's input after
            the final norm, and no final norm after the block) or 'block_input' (the block's true output).
        download: fetch the official file when it is not cached (needs internet).
    """

    def __init__(self, family: str = 'dino', arch: str = 'vit_base', patch_size: Optional[int] = None,
                 registers: Optional[int] = None, checkpoint: Optional[str] = None, layer: int = -1,
                 img_size: Optional[int] = None, num_heads: Optional[int] = None, pos_interp: Optional[dict] = None,
                 input_mean: Sequence[float] = CLIP_MEAN, input_std: Sequence[float] = CLIP_STD,
                 download: bool = True, output: str = 'features', block_residual: str = 'final_norm'):
        super().__init__()
        self.family = check_family(family)
        if output not in ('features', 'qk', 'block'):
            raise ValueError(f"VFMFeatures output must be 'features', 'qk' or 'block', got {output!r}")
        if output in ('qk', 'block') and family == 'sam':
            raise ValueError(f"VFMFeatures output='{output}' is for plain ViTs (dino, dinov2, mae), not sam")
        if block_residual not in ('final_norm', 'block_input'):
            raise ValueError(f"VFMFeatures block_residual must be 'final_norm' or 'block_input', got "
                             f"{block_residual!r}")
        self.output, self.block_residual = output, block_residual
        if img_size is not None and family != 'mae':
            raise ValueError(f'img_size is for MAE (its fixed input size); {family} takes the crop as it is'
                             + (' and SAM resizes it to its own image size' if family == 'sam' else ''))
        if pos_interp is not None and family != 'dinov2':
            raise ValueError(f'pos_interp applies to DINOv2 only, not {family}')
        _, arch, patch_size, registers = official_settings(family, arch, patch_size, registers)
        self.layer = int(layer)
        if checkpoint is not None:
            path = Path(checkpoint).expanduser()
            if not path.is_file():
                raise CheckpointError(f'{family} checkpoint {path} does not exist (model.clip.vfm.checkpoint in the '
                                      f'config, or --vfm-checkpoint on the command line)')
        else:
            path = fetch_official_weights(family, arch, patch_size, registers, download=download)
        self.checkpoint_id = f'{family}:{path.resolve()}'
        state = official_to_timm(family, load_state_dict(path))
        self.spec: VFMSpec = spec_from_state(family, state, num_heads)
        self.trunk = build_trunk(self.spec, img_size, pos_interp)
        self.trunk.load_timm_state(state)
        self.trunk.eval().requires_grad_(False)
        self.img_size = img_size or (self.spec.img_size if family in ('sam', 'mae') else None)
        stats = torch.tensor([input_mean, input_std, IMAGENET_MEAN, IMAGENET_STD], dtype=torch.float32)
        self.register_buffer('stats', stats.view(4, 1, 3, 1, 1), persistent=False)

    @classmethod
    def official_file(cls, cfg: Mapping[str, Any]) -> Tuple[str, str, int, int]:
        """(family, arch, patch size, registers) of the official weights that a config of this part (``model.clip.vfm``
        without a checkpoint) loads; a key it leaves out takes the constructor's default."""
        defaults = {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()}
        value = {key: cfg.get(key, defaults[key]) for key in ('family', 'arch', 'patch_size', 'registers')}
        return official_settings(check_family(value['family']), value['arch'], value['patch_size'],
                                 value['registers'])

    @property
    def patch_size(self) -> int:
        return self.spec.patch_size

    @property
    def out_channels(self) -> int:
        last = self.layer % self.spec.depth == self.spec.depth - 1
        return self.spec.neck_chans if self.family == 'sam' and last else self.spec.embed_dim

    @property
    def dtype(self) -> torch.dtype:
        return next(self.trunk.parameters()).dtype

    def apply_precision(self, dtype: torch.dtype) -> None:
        """Cast the whole model, LayerNorms included (ProxyCLIP runs its VFMs with ``.half()`` on CUDA)."""
        self.trunk.to(dtype)

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """CLIP-normalised (B, 3, H, W) -> ImageNet-normalised, in the model dtype, resized for SAM / MAE."""
        in_mean, in_std, mean, std = self.stats
        x = (image.float() * in_std + in_mean - mean) / std  # fp32, as the reference's un-normalise/normalise
        x = x.to(self.dtype)
        if self.img_size is not None:  # SAM stretches any crop to its square input; MAE to its built size
            x = F.interpolate(x, size=(self.img_size, self.img_size), mode='bilinear', align_corners=False)
        return x

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Features (B, C, I, J) of CLIP-normalised images (B, 3, H, W).

        I, J = H // p, W // p for DINO / DINOv2; the fixed grid img_size // p for SAM and MAE.
        """
        if self.output == 'block':
            return self.finish_state(*self.window_state(image))
        if self.output == 'qk':
            return self.trunk(self.preprocess(image), self.layer, output='qk')
        return self.trunk(self.preprocess(image), self.layer)

    def window_state(self, image: torch.Tensor) -> Tuple[Dict[str, torch.Tensor], Tuple[int, int]]:
        """Per-window tokens for a stitched last block (``models/inference/stitched.py``): see
        :func:`.stitching.window_state`."""
        if self.family == 'sam' or self.img_size is not None:
            raise ConfigError(f'{self.family} features cannot be stitched: the model sees each window resized to '
                              f'its fixed input size, so its grid is not the window\'s')
        return window_state(self.trunk, self.preprocess(image), self.layer, self.output, self.block_residual)

    def finish_state(self, state: Dict[str, torch.Tensor], grid: Tuple[int, int]) -> torch.Tensor:
        """Features (B, C, I, J) from (stitched) :meth:`window_state` tokens."""
        return finish_state(self.trunk, state, grid, self.layer, self.output, self.block_residual)

    def extra_repr(self) -> str:
        s = self.spec
        return (f'family={self.family}, width={s.embed_dim}, depth={s.depth}, heads={s.num_heads}, '
                f'patch={s.patch_size}, layer={self.layer}, output={self.output}, checkpoint={self.checkpoint_id}')


__all__ = ['VFMFeatures', 'VFMSpec', 'FAMILIES', 'spec_from_state']
