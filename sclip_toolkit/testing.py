"""Random-weight CLIP checkpoints in the OpenAI file layout, for tests and benchmarks (no download needed).

``write_random_clip(path)`` writes a tiny model (about 7 MB, built in well under a second) that loads through the
same code as the real OpenAI releases; ``preset='ViT-B/16'`` gives a full-size random ViT-B/16 for benchmarks.
``write_random_vfm(path, family)`` does the same for ProxyCLIP's vision foundation models (DINO, DINOv2, SAM, MAE),
in each family's official checkpoint layout.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import torch

PRESETS: Dict[str, dict] = {
    # 12 vision blocks so every method's default layer indices (SC-CLIP: 3, 8, 3..9) exist; width 128 gives two
    # attention heads (heads = width // 64 in the OpenAI layout), so a head split/merge bug shows.
    'tiny': dict(embed_dim=32, image_size=64, patch_size=16, vision_width=128, vision_layers=12,
                 text_width=128, text_layers=2, context_length=77, vocab_size=49408),
    'ViT-B/16': dict(embed_dim=512, image_size=224, patch_size=16, vision_width=768, vision_layers=12,
                     text_width=512, text_layers=12, context_length=77, vocab_size=49408),
    'ViT-L/14': dict(embed_dim=768, image_size=224, patch_size=14, vision_width=1024, vision_layers=24,
                     text_width=768, text_layers=12, context_length=77, vocab_size=49408),
}


def random_clip_state_dict(preset: str = 'tiny', seed: int = 0, attn_gain: float = 3.0,
                           dtype: torch.dtype = torch.float32) -> Dict[str, torch.Tensor]:
    """State dict of a randomly initialised CLIP ViT in the OpenAI layout (heads = width // 64, QuickGELU).

    Args:
        preset: 'tiny', 'ViT-B/16' or 'ViT-L/14'.
        attn_gain: vision in-projection weights are multiplied by this so attention is far from uniform.
        dtype: storage dtype of the matmul weights (OpenAI's releases store fp16).
    """
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    if preset not in PRESETS:
        raise KeyError(f'unknown preset {preset!r}; valid: {", ".join(PRESETS)}')
    p = PRESETS[preset]
    torch.manual_seed(seed)
    model = CLIP(
        p['embed_dim'],
        vision_cfg=CLIPVisionCfg(image_size=p['image_size'], patch_size=p['patch_size'], width=p['vision_width'],
                                 layers=p['vision_layers'], head_width=64),
        text_cfg=CLIPTextCfg(context_length=p['context_length'], vocab_size=p['vocab_size'], width=p['text_width'],
                             heads=p['text_width'] // 64, layers=p['text_layers']),
        quick_gelu=True)
    with torch.no_grad():
        for block in model.visual.transformer.resblocks:
            block.attn.in_proj_weight.mul_(attn_gain)
    state = model.state_dict()
    if dtype != torch.float32:
        state = {k: (v.to(dtype) if v.dim() >= 2 and 'embedding' not in k else v) for k, v in state.items()}
    return state


def write_random_clip(path: str | Path, preset: str = 'tiny', seed: int = 0, fmt: str = 'state_dict',
                      dtype: Optional[torch.dtype] = None) -> Path:
    """Write a random CLIP checkpoint; ``fmt`` 'state_dict' (torch.save) or 'torchscript' (an archive like OpenAI's)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = random_clip_state_dict(preset, seed, dtype=dtype or torch.float32)
    if fmt == 'state_dict':
        torch.save(state, path)
    elif fmt == 'torchscript':
        torch.jit.save(torch.jit.script(_ParameterArchive(state)), str(path))
    else:
        raise ValueError(f"fmt must be 'state_dict' or 'torchscript', got {fmt!r}")
    return path


class _ParameterArchive(torch.nn.Module):
    """A scriptable module whose state_dict() has exactly the given keys (nested as submodules)."""

    def __init__(self, state: Dict[str, torch.Tensor]):
        super().__init__()
        for key, value in state.items():
            *parents, leaf = key.split('.')
            module = self
            for name in parents:
                if not hasattr(module, name):
                    module.add_module(name, torch.nn.Module())
                module = getattr(module, name)
            module.register_parameter(leaf, torch.nn.Parameter(value.clone(), requires_grad=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


# Tiny VFMs (width 128 -> 2 heads, 2 blocks), small enough for tests; grids are the positional-embedding sides.
VFM_PRESETS: Dict[str, dict] = {
    'dino': dict(embed_dim=128, depth=2, patch_size=8, grid=4),
    'dinov2': dict(embed_dim=128, depth=2, patch_size=14, grid=4, layer_scale=True, registers=4),
    'sam': dict(embed_dim=128, depth=2, patch_size=16, grid=8, window_size=4, global_attn_indexes=(1,), neck_chans=32),
    'mae': dict(embed_dim=128, depth=2, patch_size=16, grid=4),
}


def random_vfm_checkpoint(family: str, seed: int = 0, qkv_gain: float = 3.0, **overrides) -> dict:
    """A randomly initialised VFM in its family's official checkpoint layout (what the release file holds).

    Args:
        family: 'dino', 'dinov2', 'sam' or 'mae'.
        qkv_gain: attention projections are multiplied by this so attention is far from uniform.
        overrides: architecture fields of :class:`sclip_toolkit.models.vfm.VFMSpec` (embed_dim, depth, grid, ...).
    """
    from .models.vfm.backbones import VFMSpec, build_trunk, default_num_heads
    from .models.vfm.weights import check_family, timm_to_official

    cfg = dict(VFM_PRESETS[check_family(family)], **overrides)
    if 'num_heads' not in cfg:
        cfg['num_heads'] = default_num_heads(cfg['embed_dim'])
    cfg.setdefault('mlp_hidden', 4 * cfg['embed_dim'])
    torch.manual_seed(seed)
    trunk = build_trunk(VFMSpec(family=family, **cfg))
    state = trunk.timm_state()
    with torch.no_grad():
        for key, value in state.items():
            if key.endswith('attn.qkv.weight'):
                value.mul_(qkv_gain)
            elif key.endswith(('rel_pos_h', 'rel_pos_w', 'register_tokens', 'ls1.gamma', 'ls2.gamma')):
                value.copy_(torch.randn_like(value) * 0.5 + (1.0 if 'gamma' in key else 0.0))  # not 0/1: visible
            elif key in ('pos_embed', 'cls_token'):
                value.copy_(torch.randn_like(value) * 0.5)
    return timm_to_official(family, state)


def write_random_vfm(path: str | Path, family: str, seed: int = 0, **overrides) -> Path:
    """Write a random VFM checkpoint in the family's official layout (see :func:`random_vfm_checkpoint`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_vfm_checkpoint(family, seed, **overrides), path)
    return path


def random_sam(model_type: str = 'vit_b', seed: int = 0, pos_std: float = 0.5, qkv_gain: float = 3.0
               ) -> torch.nn.Module:
    """segment-anything's SAM built by its own builder after ``torch.manual_seed(seed)`` (its init), then made
    position-sensitive: the encoder's absolute and relative position tables (zero-initialised by SAM) are drawn from
    N(0, ``pos_std``^2) with a generator seeded 1, in parameter order, and every encoder ``attn.qkv.weight`` is
    multiplied by ``qkv_gain`` so attention is not uniform. The Trident parity fixtures use the defaults (ViT-B)."""
    from segment_anything import sam_model_registry
    torch.manual_seed(seed)
    sam = sam_model_registry[model_type]()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in sam.named_parameters():
            if name == 'image_encoder.pos_embed' or (name.startswith('image_encoder.') and '.rel_pos_' in name):
                param.copy_(torch.randn(param.shape, generator=gen) * pos_std)
            elif name.startswith('image_encoder.blocks.') and name.endswith('.attn.qkv.weight'):
                param.mul_(qkv_gain)
    return sam.eval()


def write_random_sam(path: str | Path, model_type: str = 'vit_b', seed: int = 0) -> Path:
    """Write :func:`random_sam`'s state dict (SAM's published layout) to ``path`` (about 375 MB for ViT-B)."""
    path = Path(path)
    tmp = path.with_name(path.name + '.tmp')
    torch.save(random_sam(model_type, seed).state_dict(), tmp)
    tmp.replace(path)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for tests that start a server or a distributed run)."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
