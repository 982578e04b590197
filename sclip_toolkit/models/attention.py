"""Final-block attention variants: the one piece that differs between the training-free CLIP segmenters.

A variant owns no weights. It is handed CLIP's pretrained last residual block and that block's input tokens, and
uses the block's own ``ln_1``, ``in_proj``, ``out_proj`` (and ``ln_2``/``mlp`` when it keeps the feed-forward), so
every variant loads the same checkpoint. Most variants only override :meth:`FinalAttention.attend`, which maps
per-head ``q, k, v`` of shape (B, heads, T, d) to the mixed values (B, heads, T, d). Variants that change the token
set (ProxyCLIP, SC-CLIP) override :meth:`FinalAttention.forward`.

Shapes: B batch, T = 1 + h*w tokens (CLS first, patches row-major), D width, d = D / heads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

# Short names (used in configs, the API and the demo) -> registered class names.
ATTENTION_ALIASES: Dict[str, str] = {}


def register_attention(alias: str):
    """Register a variant in mmseg's MODELS under its class name and in the short-name table under ``alias``."""

    def wrap(cls):
        MODELS.register_module(module=cls)
        ATTENTION_ALIASES[alias] = cls.__name__
        return cls

    return wrap


def build_attention(cfg: Any) -> 'FinalAttention':
    """Build a variant from a config dict, a short name ('sclip') or a class name ('SCLIPAttention')."""
    if isinstance(cfg, FinalAttention):
        return cfg
    cfg = dict(type=cfg) if isinstance(cfg, str) else dict(cfg)
    name = cfg.get('type')
    cfg['type'] = ATTENTION_ALIASES.get(name, name)
    if cfg['type'] not in ATTENTION_ALIASES.values():
        valid = ', '.join(f'{a} ({c})' for a, c in sorted(ATTENTION_ALIASES.items()))
        raise KeyError(f'unknown attention variant {name!r}; valid: {valid}')
    return MODELS.build(cfg)


@dataclass
class AttnContext:
    """What a variant may need besides the tokens.

    Attributes:
        grid: (h, w) patch grid of the tokens (row-major).
        hidden: outputs of earlier blocks, by block index (B, T, D), for the indices the variant asked for.
        image: the CLIP-normalised input (B, 3, H, W), for variants that run another model on it.
        extra: anything a wrapper adds (e.g. proxy features).
    """
    grid: Tuple[int, int]
    hidden: Dict[int, torch.Tensor] = field(default_factory=dict)
    image: Optional[torch.Tensor] = None
    extra: Dict[str, Any] = field(default_factory=dict)


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, D) -> (B, heads, T, d); head i takes channels [i*d, (i+1)*d)."""
    b, t, d = x.shape
    return x.view(b, t, heads, d // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, T, d) -> (B, T, D)."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def qkv_projection(block: nn.Module, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-head q, k, v (each (B, heads, T, d)) of ``block`` for tokens ``x`` (B, T, D), after its ``ln_1``."""
    attn = block.attn
    q, k, v = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    return tuple(split_heads(t, attn.num_heads) for t in (q, k, v))


def self_softmax_attention(a: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """softmax(a a^T / sqrt(d) + mask) v with the fused kernel (a: (B, heads, T, d))."""
    return F.scaled_dot_product_attention(a, a, v, attn_mask=mask)


class FinalAttention(nn.Module):
    """Base class: the last block with a replaceable attention; returns patch tokens only.

    Subclasses set ``keep_residual`` / ``keep_ffn`` and override :meth:`attend`.
    """

    keep_residual: bool = True
    keep_ffn: bool = True

    def hidden_indices(self, num_blocks: int) -> Sequence[int]:
        """Indices of earlier blocks whose outputs the variant reads (recorded during the same forward pass)."""
        return ()

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, ctx: AttnContext) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, block: nn.Module, x: torch.Tensor, ctx: AttnContext) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Run the last block on ``x`` (B, T, D); return the patch tokens (B, h*w, D) and their grid (h, w)."""
        q, k, v = qkv_projection(block, x)
        out = block.attn.out_proj(merge_heads(self.attend(q, k, v, ctx)))
        if self.keep_residual:
            out = x + block.ls_1(out) if hasattr(block, 'ls_1') else x + out
        if self.keep_ffn:
            out = out + block.mlp(block.ln_2(out))
        return out[:, 1:], ctx.grid

    def extra_repr(self) -> str:
        return f'keep_residual={self.keep_residual}, keep_ffn={self.keep_ffn}'


@register_attention('vanilla')
class VanillaAttention(FinalAttention):
    """Stock CLIP: softmax(q k^T / sqrt(d)) v with residual and feed-forward; plain CLIP patch tokens."""

    def __init__(self, keep_residual: bool = True, keep_ffn: bool = True):
        super().__init__()
        self.keep_residual, self.keep_ffn = keep_residual, keep_ffn

    def attend(self, q, k, v, ctx):
        return F.scaled_dot_product_attention(q, k, v)


@register_attention('maskclip')
class MaskCLIPAttention(FinalAttention):
    """MaskCLIP (Zhou et al., ECCV 2022): each token attends only to itself, so the output is out_proj(v).

    Residual and feed-forward are dropped, as in ClearCLIP's MaskCLIP baseline.
    """

    def __init__(self, keep_residual: bool = False, keep_ffn: bool = False):
        super().__init__()
        self.keep_residual, self.keep_ffn = keep_residual, keep_ffn

    def attend(self, q, k, v, ctx):
        return v


@register_attention('sclip')
class SCLIPAttention(FinalAttention):
    """SCLIP correlative self-attention (Wang et al., ECCV 2024; github.com/wangf3014/SCLIP).

    P = softmax(q q^T s) + softmax(k k^T s): a sum of two row-stochastic matrices (rows sum to 2).
    Residual and feed-forward are kept.
    """

    def __init__(self, keep_residual: bool = True, keep_ffn: bool = True):
        super().__init__()
        self.keep_residual, self.keep_ffn = keep_residual, keep_ffn

    def attend(self, q, k, v, ctx):
        return self_softmax_attention(q, v) + self_softmax_attention(k, v)


@register_attention('clearclip')
class ClearCLIPAttention(FinalAttention):
    """ClearCLIP self-self attention (Lan et al., ECCV 2024; github.com/mc-lan/ClearCLIP).

    P = softmax(q q^T s) on the last block, with residual and feed-forward removed (``ignore_residual=True``).
    ``qk='qk'`` gives the shipped base config's q-k ablation ('vanilla' model type with the residual dropped).
    """

    def __init__(self, qk: str = 'qq', keep_residual: bool = False, keep_ffn: bool = False):
        super().__init__()
        if qk not in ('qq', 'qk', 'kk'):
            raise ValueError(f"ClearCLIPAttention qk must be 'qq', 'qk' or 'kk', got {qk!r}")
        self.qk, self.keep_residual, self.keep_ffn = qk, keep_residual, keep_ffn

    def attend(self, q, k, v, ctx):
        a, b = {'qq': (q, q), 'qk': (q, k), 'kk': (k, k)}[self.qk]
        return F.scaled_dot_product_attention(a, b, v)


def gaussian_window_bias(h: int, w: int, std: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """NACLIP's neighbourhood prior Omega+ (1, T, T): exp(-|p - p'|^2 / (2 std^2)) between patches, 0 for CLS.

    The window values are built exactly as the reference does (float32 linspace coordinates, exp of the sum of
    squares), then gathered at the (row, column) offsets of every patch pair.
    """
    c = 1.0 / (std * 2 ** 0.5)
    u = torch.linspace(-(2 * h - 2) / 2 * c, (2 * h - 2) / 2 * c, 2 * h - 1)
    v = torch.linspace(-(2 * w - 2) / 2 * c, (2 * w - 2) / 2 * c, 2 * w - 1)
    uu, vv = torch.meshgrid(u, v, indexing='ij')
    window = torch.exp(-(uu ** 2 + vv ** 2))
    rows = torch.arange(h).repeat_interleave(w)
    cols = torch.arange(w).repeat(h)
    omega = window[(rows[:, None] - rows[None, :]) + h - 1, (cols[:, None] - cols[None, :]) + w - 1]
    return F.pad(omega, (1, 0, 1, 0)).unsqueeze(0).to(device=device, dtype=dtype)


@register_attention('naclip')
class NACLIPAttention(FinalAttention):
    """NACLIP neighbour-aware attention (Hajimiri et al., WACV 2025; github.com/sinahmr/NACLIP).

    P = softmax(k k^T s + Omega+) with a Gaussian spatial prior of std ``gaussian_std`` patches; the 'reduced'
    architecture keeps only the attention output (no residual, no feed-forward).
    """

    def __init__(self, gaussian_std: float = 5.0, keep_residual: bool = False, keep_ffn: bool = False):
        super().__init__()
        if gaussian_std <= 0:
            raise ValueError(f'NACLIPAttention gaussian_std must be > 0, got {gaussian_std}')
        self.gaussian_std, self.keep_residual, self.keep_ffn = gaussian_std, keep_residual, keep_ffn
        self._bias_cache: Dict[tuple, torch.Tensor] = {}

    def attend(self, q, k, v, ctx):
        key = (ctx.grid, k.dtype, k.device)
        if key not in self._bias_cache:
            self._bias_cache[key] = gaussian_window_bias(*ctx.grid, self.gaussian_std, k.dtype, k.device)
        return F.scaled_dot_product_attention(k, k, v, attn_mask=self._bias_cache[key])
