"""Official VFM weight files (DINO, DINOv2, SAM, MAE): where they come from and how their keys map to timm's.

Each family publishes its checkpoints in its own layout. The trunks in :mod:`.backbones` use timm's module names,
so loading is a small, explicit rename per family (and the inverse, used to write test checkpoints in the official
layouts). Files are found in the torch hub cache (``$TORCH_HOME/hub/checkpoints``, where ``torch.hub`` and the
official hub entry points put them) or downloaded there when online.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Tuple

import torch

from ...exceptions import ConfigError
from ..checkpoint import CheckpointError, download_file

FAMILIES = ('dino', 'dinov2', 'sam', 'mae')

_FB = 'https://dl.fbaipublicfiles.com'
# (family, arch, patch size, registers) -> URL of the official file. Archs use DINO's names; SAM's 'vit_b' etc. are
# accepted as aliases (see ARCH_ALIASES).
OFFICIAL_WEIGHTS: Dict[Tuple[str, str, int, int], str] = {
    ('dino', 'vit_small', 16, 0): f'{_FB}/dino/dino_deitsmall16_pretrain/dino_deitsmall16_pretrain.pth',
    ('dino', 'vit_small', 8, 0): f'{_FB}/dino/dino_deitsmall8_pretrain/dino_deitsmall8_pretrain.pth',
    ('dino', 'vit_base', 16, 0): f'{_FB}/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth',
    ('dino', 'vit_base', 8, 0): f'{_FB}/dino/dino_vitbase8_pretrain/dino_vitbase8_pretrain.pth',
    **{('dinov2', f'vit_{size}', 14, reg): f'{_FB}/dinov2/dinov2_vit{size[0]}14/dinov2_vit{size[0]}14'
                                           f'{"_reg4" if reg else ""}_pretrain.pth'
       for size in ('small', 'base', 'large') for reg in (0, 4)},
    ('sam', 'vit_base', 16, 0): f'{_FB}/segment_anything/sam_vit_b_01ec64.pth',
    ('sam', 'vit_large', 16, 0): f'{_FB}/segment_anything/sam_vit_l_0b3195.pth',
    ('sam', 'vit_huge', 16, 0): f'{_FB}/segment_anything/sam_vit_h_4b8939.pth',
    ('mae', 'vit_base', 16, 0): f'{_FB}/mae/pretrain/mae_pretrain_vit_base.pth',
    ('mae', 'vit_large', 16, 0): f'{_FB}/mae/pretrain/mae_pretrain_vit_large.pth',
    ('mae', 'vit_huge', 14, 0): f'{_FB}/mae/pretrain/mae_pretrain_vit_huge.pth',
}
ARCH_ALIASES = {'vit_s': 'vit_small', 'vit_b': 'vit_base', 'vit_l': 'vit_large', 'vit_h': 'vit_huge'}


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise ConfigError(f'unknown vision foundation model family {family!r}; valid: {", ".join(FAMILIES)}')
    return family


def official_url(family: str, arch: str, patch_size: int, registers: int = 0) -> str:
    """URL of an official checkpoint; the error lists the published (arch, patch, registers) of the family."""
    check_family(family)
    arch = ARCH_ALIASES.get(arch, arch)
    key = (family, arch, int(patch_size), int(registers))
    if key not in OFFICIAL_WEIGHTS:
        valid = ', '.join(f'arch={a!r} patch_size={p}' + (f' registers={r}' if f == 'dinov2' else '')
                          for f, a, p, r in OFFICIAL_WEIGHTS if f == family)
        raise CheckpointError(f'no official {family} weights for arch={arch!r}, patch_size={patch_size}'
                              + (f', registers={registers}' if family == 'dinov2' else '')
                              + f'; published: {valid}. For other weights pass checkpoint=<file>.')
    return OFFICIAL_WEIGHTS[key]


def weights_cache_dir() -> Path:
    """torch hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``), shared with the official hub loaders."""
    return Path(torch.hub.get_dir()) / 'checkpoints'


def fetch_official_weights(family: str, arch: str, patch_size: int, registers: int = 0,
                           download: bool = True) -> Path:
    """Local path of an official checkpoint, downloaded into the torch hub cache if missing and allowed.

    Raises:
        CheckpointError: the file is not cached and cannot be downloaded; the message names the file, its URL and
            where to put it.
    """
    url = official_url(family, arch, patch_size, registers)
    target = weights_cache_dir() / url.rsplit('/', 1)[-1]
    if target.is_file():
        return target
    how = (f'Download {url} on a machine with internet access and copy it to {target} (or set TORCH_HOME), or '
           f'pass checkpoint=/path/to/{target.name} (--vfm-checkpoint on the command line).')
    if not download:
        raise CheckpointError(f'{family} weights {target.name} not found at {target}. {how}')
    return download_file(url, target, f'{family} weights {target.name}', how)


# ---------------------------------------------------------------------------------------------- key layouts
_CHUNKED_BLOCK = re.compile(r'^blocks\.\d+\.(\d+)\.')  # DINOv2 training checkpoints: blocks.<chunk>.<index>.


def official_to_timm(family: str, state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename an official checkpoint's tensors to the trunk's timm names; drop what the image encoder does not use.

    dino: already timm names (a classification ``head.*`` is dropped). dinov2: ``mask_token`` dropped, chunked
    ``blocks.C.N.`` flattened (``register_tokens`` and ``blocks.N.ls1.gamma`` keep their names). sam: only
    ``image_encoder.*`` (prefix removed, ``mlp.lin1/2`` -> ``mlp.fc1/2``). mae: decoder, ``mask_token`` and
    ``head.*`` dropped.
    """
    check_family(family)
    out: Dict[str, torch.Tensor] = {}
    has_encoder_prefix = any(k.startswith('image_encoder.') for k in state)
    for key, value in state.items():
        if family == 'sam':
            if has_encoder_prefix and not key.startswith('image_encoder.'):
                continue  # prompt encoder, mask decoder, pixel statistics
            key = key.removeprefix('image_encoder.').replace('.mlp.lin1.', '.mlp.fc1.').replace('.mlp.lin2.',
                                                                                                  '.mlp.fc2.')
        elif family == 'dinov2':
            if key == 'mask_token':
                continue
            key = _CHUNKED_BLOCK.sub(r'blocks.\1.', key)
        elif family == 'mae' and (key.startswith('decoder') or key == 'mask_token'):
            continue
        if key.startswith('head.'):
            continue
        out[key] = value
    return out


def timm_to_official(family: str, state: Dict[str, torch.Tensor]) -> Dict[str, object]:
    """Inverse of :func:`official_to_timm`: the object the official release stores (tests write these files).

    Adds the pieces an official file has but the image encoder ignores (DINOv2 ``mask_token``, SAM's prompt
    encoder stub and pixel statistics, MAE's decoder stub), so loading is tested against the full layout.
    """
    check_family(family)
    state = {k: v.detach().clone() for k, v in state.items()}
    dim = state['patch_embed.proj.weight'].shape[0]
    if family == 'dinov2':
        state['mask_token'] = torch.zeros(1, dim)
    elif family == 'sam':
        state = {'image_encoder.' + k.replace('.mlp.fc1.', '.mlp.lin1.').replace('.mlp.fc2.', '.mlp.lin2.'): v
                 for k, v in state.items()}
        state.update({'pixel_mean': torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1),
                      'pixel_std': torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1),
                      'prompt_encoder.no_mask_embed.weight': torch.zeros(1, 8)})
    elif family == 'mae':
        state.update({'mask_token': torch.zeros(1, 1, 8), 'decoder_embed.weight': torch.zeros(8, dim),
                      'decoder_embed.bias': torch.zeros(8)})
        return {'model': state}
    return state


def describe_state(state: Dict[str, torch.Tensor], limit: int = 4) -> str:
    """A short description of a state dict for error messages."""
    return f'{len(state)} tensors, e.g. {list(state)[:limit]}'

