"""VFM trunks on timm modules: DINO / DINOv2 / MAE (plain ViT) and SAM's image encoder, read from checkpoints.

The architecture is read from the checkpoint's tensor shapes (width, depth, patch size, positional grid, MLP width,
layer scale, registers; SAM's head width, windowed/global blocks and neck), so any size of a family loads through
one code path. Only the attention head count of a plain ViT cannot be read from shapes; it follows the published
models (head width 64, except 16 heads for width 1280) unless given.

Each family keeps its own positional-embedding rule, since they change the features:
DINO: bicubic with the scale factor (n + 0.1) / G (in the weights' dtype); DINOv2: the hub's rule (offset 0.1
without registers; size-based antialiased bicubic in fp32 with registers); MAE and SAM: fixed grids (the input is
resized to the model's image size).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import partial
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoint import CheckpointError
from .weights import describe_state

# Published plain-ViT widths -> heads (DINO ViT-T/S/B, DINOv2 S/B/L/g, MAE B/L/H).
HEADS_BY_WIDTH = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16, 1536: 24}


@dataclass(frozen=True)
class VFMSpec:
    """Architecture of a VFM trunk, as read from a checkpoint (see :func:`spec_from_state`)."""
    family: str
    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int
    grid: int  # side of the positional-embedding grid the weights were trained with
    mlp_hidden: int
    qkv_bias: bool = True
    layer_scale: bool = False  # DINOv2
    registers: int = 0  # DINOv2 *_reg4
    window_size: int = 0  # SAM: windowed-attention size of the non-global blocks
    global_attn_indexes: Tuple[int, ...] = field(default_factory=tuple)  # SAM
    neck_chans: int = 0  # SAM

    @property
    def img_size(self) -> int:
        return self.grid * self.patch_size


def default_num_heads(width: int) -> int:
    if width in HEADS_BY_WIDTH:
        return HEADS_BY_WIDTH[width]
    if width % 64 == 0:
        return width // 64
    raise CheckpointError(f'cannot infer the head count of a ViT of width {width} (not a published size and not a '
                          f'multiple of 64); give num_heads= in the VFM config')


def spec_from_state(family: str, state: Dict[str, torch.Tensor], num_heads: Optional[int] = None) -> VFMSpec:
    """Read a trunk's architecture from a state dict in timm names (after :func:`.weights.official_to_timm`)."""
    need = ['patch_embed.proj.weight', 'pos_embed', 'blocks.0.attn.qkv.weight', 'blocks.0.mlp.fc1.weight']
    need += ['neck.0.weight'] if family == 'sam' else ['cls_token', 'norm.weight']
    missing = [k for k in need if k not in state]
    if missing:
        raise CheckpointError(f'not a {family} checkpoint in the official layout: missing {missing} '
                              f'(it has {describe_state(state)})')
    dim, _, patch, patch_w = state['patch_embed.proj.weight'].shape
    if patch != patch_w:
        raise CheckpointError(f'non-square patches {patch}x{patch_w} are not supported')
    depth = 1 + max(int(m.group(1)) for k in state if (m := re.match(r'blocks\.(\d+)\.', k)))
    common = dict(family=family, embed_dim=dim, depth=depth, patch_size=patch,
                  mlp_hidden=state['blocks.0.mlp.fc1.weight'].shape[0], qkv_bias='blocks.0.attn.qkv.bias' in state)
    pos = state['pos_embed']
    if family == 'sam':
        grid = pos.shape[1]  # (1, G, G, D)
        rel = [state[f'blocks.{i}.attn.rel_pos_h'].shape for i in range(depth)]
        heads = dim // rel[0][1]
        if num_heads is not None and num_heads != heads:
            raise CheckpointError(f'num_heads={num_heads} contradicts the checkpoint (relative positions of head '
                                  f'width {rel[0][1]} -> {heads} heads)')
        global_idx = tuple(i for i, s in enumerate(rel) if s[0] == 2 * grid - 1)
        windows = {(s[0] + 1) // 2 for i, s in enumerate(rel) if i not in global_idx}
        return VFMSpec(num_heads=heads, grid=grid, window_size=windows.pop() if windows else 0,
                       global_attn_indexes=global_idx, neck_chans=state['neck.0.weight'].shape[0], **common)
    grid = math.isqrt(pos.shape[1] - 1)
    if grid * grid != pos.shape[1] - 1:
        raise CheckpointError(f'pos_embed of {pos.shape[1]} tokens is not a square grid plus CLS')
    registers = state['register_tokens'].shape[1] if 'register_tokens' in state else 0
    return VFMSpec(num_heads=num_heads or default_num_heads(dim), grid=grid, registers=registers,
                   layer_scale='blocks.0.ls1.gamma' in state, **common)


def resize_grid_embedding(pos: torch.Tensor, size: Tuple[int, int], offset: float = 0.0,
                          antialias: bool = False) -> torch.Tensor:
    """Resize a (1, 1 + G*G, D) positional embedding (CLS first) to an (h, w) grid with bicubic interpolation.

    ``offset > 0``: the DINO recipe, the scale factor (n + offset) / G passed to the kernel (this is not the same
    as resizing to a size); ``offset == 0``: resize to the size, optionally antialiased.
    """
    g = math.isqrt(pos.shape[1] - 1)
    h, w = size
    grid = pos[:, 1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
    if offset:
        grid = F.interpolate(grid, scale_factor=((h + offset) / g, (w + offset) / g), mode='bicubic',
                             antialias=antialias)
    else:
        grid = F.interpolate(grid, size=(h, w), mode='bicubic', antialias=antialias, align_corners=False)
    assert grid.shape[-2:] == (h, w), (grid.shape, size)
    return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)], dim=1)


def block_range(layer: int, depth: int) -> int:
    """Number of blocks to run for block index ``layer`` (negative counts from the end)."""
    if not -depth <= layer < depth:
        raise IndexError(f'VFM layer {layer} out of range for {depth} blocks (use 0..{depth - 1} or -1 for the last)')
    return layer % depth + 1


class ViTTrunk(nn.Module):
    """DINO, DINOv2 and MAE image encoders: timm ``VisionTransformer`` modules with the family's token recipe.

    Args:
        spec: the architecture (from the checkpoint).
        pos_rule: dict(mode='scale_factor' | 'size' | 'fixed', offset=float, antialias=bool, fp32=bool) for
            resizing the positional embedding to the input's grid ('fixed': the grid must match).
        img_size: build the positional grid for this input size instead of the checkpoint's (MAE).
    """

    def __init__(self, spec: VFMSpec, pos_rule: dict, img_size: Optional[int] = None):
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer
        self.spec, self.pos_rule = spec, dict(pos_rule)
        self.vit = VisionTransformer(
            img_size=img_size or spec.img_size, patch_size=spec.patch_size, embed_dim=spec.embed_dim,
            depth=spec.depth, num_heads=spec.num_heads, mlp_ratio=spec.mlp_hidden / spec.embed_dim,
            qkv_bias=spec.qkv_bias, init_values=1.0 if spec.layer_scale else None, class_token=True,
            global_pool='', num_classes=0, norm_layer=partial(nn.LayerNorm, eps=1e-6), act_layer=nn.GELU)
        self.register_tokens = nn.Parameter(torch.zeros(1, spec.registers, spec.embed_dim)) if spec.registers else None

    def timm_state(self) -> Dict[str, torch.Tensor]:
        """The weights in timm names (what :meth:`load_timm_state` takes)."""
        state = dict(self.vit.state_dict())
        if self.register_tokens is not None:
            state['register_tokens'] = self.register_tokens.data
        return state

    def load_timm_state(self, state: Dict[str, torch.Tensor]) -> None:
        """Load timm-named tensors; a checkpoint grid other than the built one is resized (size-based bicubic)."""
        state = dict(state)
        if self.register_tokens is not None:
            self.register_tokens.data.copy_(state.pop('register_tokens'))
        pos = state['pos_embed']
        if pos.shape != self.vit.pos_embed.shape:  # MAE built for the crop size: resize once, as at MAE fine-tuning
            side = math.isqrt(self.vit.pos_embed.shape[1] - 1)
            state['pos_embed'] = resize_grid_embedding(pos.float(), (side, side)).to(pos.dtype)
        _strict_load(self.vit, state)

    def pos_embed_for(self, grid: Tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
        """Positional embedding (1, 1 + h*w, D) for an (h, w) patch grid."""
        pos = self.vit.pos_embed
        side = math.isqrt(pos.shape[1] - 1)
        if grid == (side, side):
            return pos.to(dtype)
        rule = self.pos_rule
        if rule['mode'] == 'fixed':
            raise ValueError(f'this {self.spec.family} model has a fixed {side}x{side} patch grid, got {grid}')
        src = pos.float() if rule.get('fp32') else pos
        offset = rule.get('offset', 0.0) if rule['mode'] == 'scale_factor' else 0.0
        return resize_grid_embedding(src, grid, offset, rule.get('antialias', False)).to(dtype)

    def embed(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch embedding, CLS (and registers) and positions: (B, 3, H, W) -> (B, 1+R+h*w, D), grid (h, w)."""
        vit = self.vit
        x = vit.patch_embed.proj(x)  # (B, D, h, w); a conv, so sizes that are not multiples of the patch floor
        b, dim, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)  # (B, h*w, D), row-major
        x = torch.cat([vit.cls_token.to(x.dtype).expand(b, -1, -1), x], dim=1)
        x = x + self.pos_embed_for((h, w), x.dtype)
        if self.register_tokens is not None:  # DINOv2 inserts registers after the positional embedding
            x = torch.cat([x[:, :1], self.register_tokens.to(x.dtype).expand(b, -1, -1), x[:, 1:]], dim=1)
        return x, (h, w)

    def forward(self, x: torch.Tensor, layer: int = -1, output: str = 'features') -> torch.Tensor:
        """Patch features (B, D, h, w) of images (B, 3, H, W), CLS and registers dropped.

        ``output='features'``: the final norm on block ``layer``'s output (DINO's / DINOv2's
        ``get_intermediate_layers``, MAE's ``forward_features``). ``output='qk'``: the sum of block ``layer``'s
        query and key projections (all heads, biases included), as CorrCLIP reads DINO's last block.
        """
        vit = self.vit
        x, (h, w) = self.embed(x)
        b, dim = x.shape[0], x.shape[-1]
        count = block_range(layer, len(vit.blocks))
        if output == 'qk':
            x = vit.blocks[:count - 1](x)
            last = vit.blocks[count - 1]
            q, k, _ = last.attn.qkv(last.norm1(x)).chunk(3, dim=-1)
            x = (q + k)[:, 1 + self.spec.registers:]
            return x.transpose(1, 2).reshape(b, dim, h, w)
        x = vit.blocks[:count](x)
        x = vit.norm(x)[:, 1 + self.spec.registers:]
        return x.transpose(1, 2).reshape(b, dim, h, w)


class SAMTrunk(nn.Module):
    """SAM's image encoder (windowed + global attention with relative positions, conv neck) via timm's samvit."""

    def __init__(self, spec: VFMSpec):
        super().__init__()
        from timm.models.vision_transformer_sam import VisionTransformerSAM
        self.spec = spec
        self.sam = VisionTransformerSAM(
            img_size=spec.img_size, patch_size=spec.patch_size, embed_dim=spec.embed_dim, depth=spec.depth,
            num_heads=spec.num_heads, mlp_ratio=spec.mlp_hidden / spec.embed_dim, qkv_bias=spec.qkv_bias,
            norm_layer=partial(nn.LayerNorm, eps=1e-6), act_layer=nn.GELU, use_rel_pos=True,
            window_size=spec.window_size, global_attn_indexes=spec.global_attn_indexes, neck_chans=spec.neck_chans,
            num_classes=0)

    def timm_state(self) -> Dict[str, torch.Tensor]:
        return dict(self.sam.state_dict())

    def load_timm_state(self, state: Dict[str, torch.Tensor]) -> None:
        _strict_load(self.sam, state)

    def forward(self, x: torch.Tensor, layer: int = -1) -> torch.Tensor:
        """Features (B, C, h, w) of images (B, 3, S, S) at the model's image size S: the neck output after the last
        block (C = neck channels, SAM's image embedding), or block ``layer``'s raw output (C = width)."""
        sam = self.sam
        if tuple(x.shape[-2:]) != (self.spec.img_size,) * 2:
            raise ValueError(f'SAM expects {self.spec.img_size}x{self.spec.img_size} inputs, got {tuple(x.shape)}')
        x = sam.patch_embed(x) + sam.pos_embed.to(x.dtype)  # (B, h, w, D)
        count = block_range(layer, len(sam.blocks))
        x = sam.blocks[:count](x).permute(0, 3, 1, 2)
        return sam.neck(x) if count == len(sam.blocks) else x


def build_trunk(spec: VFMSpec, img_size: Optional[int] = None, pos_interp: Optional[dict] = None) -> nn.Module:
    """The trunk of ``spec.family`` with its positional-embedding rule (randomly initialised; load weights after).

    Args:
        img_size: MAE: build the positional grid for this input size.
        pos_interp: DINOv2: dict(offset=..., antialias=...) overriding the hub's rule for the weights' registers.
    """
    if spec.family == 'sam':
        return SAMTrunk(spec)
    if spec.family == 'dino':
        rule = dict(mode='scale_factor', offset=0.1)  # in the weights' dtype, as DINO's hub model
    elif spec.family == 'dinov2':
        default = dict(offset=0.0, antialias=True) if spec.registers else dict(offset=0.1, antialias=False)
        rule = dict(default, **(pos_interp or {}))
        rule.update(mode='scale_factor' if rule['offset'] else 'size', fp32=True)
    else:
        rule = dict(mode='fixed')
    return ViTTrunk(spec, rule, img_size)


def _strict_load(module: nn.Module, state: Dict[str, torch.Tensor]) -> None:
    """load_state_dict(strict) with an error that lists what is missing / unexpected in checkpoint terms."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f'{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}' for k, v in state.items()
             if k in own and v.shape != own[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(f'checkpoint does not fit the {type(module).__name__} read from its shapes: '
                              f'missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shapes {wrong[:3]}')
    module.load_state_dict(state, strict=True)
