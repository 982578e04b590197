"""The attention-variant interface: what a variant is given, what it may ask for, and how it is registered.

A variant owns no weights. It is handed CLIP's pretrained last residual block and that block's input tokens, and
uses the block's own ``ln_1``, ``in_proj``, ``out_proj`` (and ``ln_2``/``mlp`` when it keeps the feed-forward), so
every variant loads the same checkpoint. Most variants only override :meth:`FinalAttention.attend`, which maps
per-head ``q, k, v`` of shape (B, heads, T, d) to the mixed values (B, heads, T, d). Variants that change the token
set (ProxyCLIP, SC-CLIP) override :meth:`FinalAttention.forward`. What a variant reads besides the tokens (earlier
blocks' outputs, their q/k or attention maps, VFM features, the class embeddings) it declares in
:meth:`FinalAttention.recording`; the encoder records all of it in the same forward pass. A variant that changes
earlier blocks too (RF-CLIP) names them in ``Recording.run_blocks``; the encoder then calls its
:meth:`FinalAttention.run_block` for those blocks instead of their stock forward. Per-image outputs besides the
patch tokens (e.g. a CLS embedding for the classification head) go to ``AttnContext.extras``.

Shapes: B batch, T = 1 + h*w tokens (CLS first, patches row-major), D width, d = D / heads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from ...exceptions import ConfigError
from ..bf16_blocks import feed_forward, linear  # F.linear / mlp(x), fused for bf16 on CPU


def register_attention(alias: str):
    """Register a variant in mmseg's MODELS under its class name and under the short ``alias`` ('sclip')."""

    def wrap(cls):
        MODELS.register_module(name=[cls.__name__, alias], module=cls)
        cls.alias = alias
        return cls

    return wrap


def attention_variants() -> Dict[str, type]:
    """Every registered variant, by short name (the registry is the one table)."""
    return {name: cls for name, cls in MODELS.module_dict.items()
            if isinstance(cls, type) and issubclass(cls, FinalAttention) and name == getattr(cls, 'alias', None)}


def build_attention(cfg: Any) -> 'FinalAttention':
    """Build a variant from a config dict, a short name ('sclip') or a class name ('SCLIPAttention')."""
    if isinstance(cfg, FinalAttention):
        return cfg
    cfg = dict(type=cfg) if isinstance(cfg, str) else dict(cfg)
    cls = MODELS.get(cfg.get('type')) if isinstance(cfg.get('type'), str) else cfg.get('type')
    if not (isinstance(cls, type) and issubclass(cls, FinalAttention)):
        valid = ', '.join(f'{a} ({c.__name__})' for a, c in sorted(attention_variants().items()))
        raise ConfigError(f'unknown attention variant {cfg.get("type")!r}; valid: {valid}')
    cfg['type'] = cls
    return MODELS.build(cfg)


@dataclass(frozen=True)
class Recording:
    """What a variant reads from the forward pass besides the last block's input (block indices 0-based).

    Attributes:
        hidden: blocks whose outputs (B, T, D) it reads.
        qkv: blocks whose per-head q, k, v (B, heads, T, d) it reads.
        attn: blocks whose attention maps softmax(q k^T / sqrt(d)) (B, heads, T, T) it reads.
        text: whether it needs the class embeddings (e.g. a first segmentation fed back into the attention).
        run_blocks: blocks (before the last) whose forward the variant takes over: the encoder calls
            ``run_block(index, block, x, ctx)`` for them instead of ``block(x)``.
    """
    hidden: Tuple[int, ...] = ()
    qkv: Tuple[int, ...] = ()
    attn: Tuple[int, ...] = ()
    text: bool = False
    run_blocks: Tuple[int, ...] = ()

    def blocks(self) -> set:
        return set(self.hidden) | set(self.qkv) | set(self.attn) | set(self.run_blocks)


@dataclass
class BlockRecord:
    """One block's per-head projections (B, heads, T, d) and, when asked for, its attention map (B, heads, T, T)."""
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    attn: Optional[torch.Tensor] = None


@dataclass
class AttnContext:
    """What a variant may read besides the tokens; filled by the encoder as the variant's :class:`Recording` asks.

    Attributes:
        grid: (h, w) patch grid of the tokens (row-major).
        blocks: the vision tower's residual blocks, in order.
        visual: the vision tower (``ln_post``, ``proj``), to project tokens into the text space.
        image: the CLIP-normalised input (B, 3, H, W).
        hidden: outputs of earlier blocks (B, T, D), by block index.
        records: q/k/v and attention maps of earlier blocks, by block index.
        vfm_feats: a vision foundation model's patch features (B, C, I, J), when one is configured.
        text: the class embeddings (:class:`~sclip_toolkit.models.text.ClassEmbeddings`), when asked for.
        regions: region ids of each input image (B, H, W) at its pixel size, when a region generator is configured
            (the inference cuts them per window, padding gets its own id).
        embedded: the first block's input (B, T, D) (patch embedding, CLS, positions, ln_pre).
        state: the variant's own scratch space for one forward pass (what ``run_block`` keeps for ``forward``).
        extras: per-image outputs (B, ...) the variant hands on besides the patch tokens (e.g. 'cls' (B, E));
            the window inference keeps them per crop for the classification head.
    """
    grid: Tuple[int, int]
    blocks: Sequence[nn.Module] = ()
    visual: Optional[nn.Module] = None
    image: Optional[torch.Tensor] = None
    hidden: Dict[int, torch.Tensor] = field(default_factory=dict)
    records: Dict[int, BlockRecord] = field(default_factory=dict)
    vfm_feats: Optional[torch.Tensor] = None
    text: Any = None
    regions: Any = None
    embedded: Optional[torch.Tensor] = None
    state: Dict[str, Any] = field(default_factory=dict)
    extras: Dict[str, torch.Tensor] = field(default_factory=dict)

    def block_output(self, index: int) -> torch.Tensor:
        """Output (B, T, D) of block ``index`` (negative counts from the end), recorded in this forward pass."""
        index = index + len(self.blocks) if index < 0 else index
        if index not in self.hidden:
            raise KeyError(f'the output of block {index} was not recorded (recorded: {sorted(self.hidden)}); '
                           f'list it in the variant\'s recording().hidden')
        return self.hidden[index]

    def record(self, index: int) -> BlockRecord:
        """q, k, v (and the attention map when requested) of block ``index``, recorded in this forward pass."""
        index = index + len(self.blocks) if index < 0 else index
        if index not in self.records:
            raise KeyError(f'q/k/v of block {index} were not recorded (recorded: {sorted(self.records)}); '
                           f'list it in the variant\'s recording().qkv or .attn')
        return self.records[index]


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
    q, k, v = linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    return tuple(split_heads(t, attn.num_heads) for t in (q, k, v))


def self_softmax_attention(a: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """softmax(a a^T / sqrt(d) + mask) v with the fused kernel (a: (B, heads, T, d))."""
    return F.scaled_dot_product_attention(a, a, v, attn_mask=mask)


def residual_and_ffn(block: nn.Module, x: torch.Tensor, attn_out: torch.Tensor, keep_residual: bool,
                     keep_ffn: bool) -> torch.Tensor:
    """The rest of a residual block after its attention: ``x + ls_1(attn)`` and ``+ ls_2(mlp(ln_2(.)))``.

    Layer scale (open_clip models with ``ls_init_value``) is applied on both branches; blocks without it have
    identity ``ls_1``/``ls_2`` or none.
    """
    out = attn_out
    if keep_residual:
        out = x + (block.ls_1(out) if hasattr(block, 'ls_1') else out)
    if keep_ffn:
        ffn = feed_forward(block.mlp, block.ln_2(out))
        out = out + (block.ls_2(ffn) if hasattr(block, 'ls_2') else ffn)
    return out


def run_block_recorded(block: nn.Module, x: torch.Tensor, with_attn: bool) -> Tuple[torch.Tensor, BlockRecord]:
    """Run a stock residual block on ``x`` (B, T, D), keeping its q, k, v (and attention map): the same math as
    ``block(x)``, so a variant can read intermediate attention without a second pass through the encoder."""
    q, k, v = qkv_projection(block, x)
    attn = None
    if with_attn:
        attn = ((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        mixed = attn @ v
    else:
        mixed = F.scaled_dot_product_attention(q, k, v)
    out = residual_and_ffn(block, x, linear(merge_heads(mixed), block.attn.out_proj.weight, block.attn.out_proj.bias),
                           True, True)
    return out, BlockRecord(q, k, v, attn)


class FinalAttention(nn.Module):
    """Base class: the last block with a replaceable attention; returns patch tokens only.

    Subclasses set the class attributes ``keep_residual`` / ``keep_ffn`` (their defaults; a config may override
    them) and override :meth:`attend`, or :meth:`forward` when they change the token set. A variant that combines
    several token sets after normalising each (CorrCLIP) applies ``ln_post`` itself and sets ``applies_ln_post``.
    """

    keep_residual: bool = True
    keep_ffn: bool = True
    applies_ln_post: bool = False
    alias: str = ''

    def __init__(self, keep_residual: Optional[bool] = None, keep_ffn: Optional[bool] = None):
        super().__init__()
        if keep_residual is not None:
            self.keep_residual = bool(keep_residual)
        if keep_ffn is not None:
            self.keep_ffn = bool(keep_ffn)

    def recording(self, num_blocks: int) -> Recording:
        """What the variant reads from the forward pass (default: nothing but the last block's input)."""
        return Recording()

    def unstitchable_reason(self, num_blocks: int = 12) -> str:
        """Why the variant cannot run stitched (``StitchedInference``), or '' when it can. Stitching places the
        windows' patch tokens and earlier blocks' outputs on one whole-image grid; per-window attention maps, q/k/v
        records and blocks the variant runs itself do not stitch (they would have to be global from the start)."""
        wants = self.recording(num_blocks)
        if wants.attn or wants.qkv:
            return 'it reads earlier blocks\' per-window attention maps or q/k/v, which do not stitch'
        if wants.run_blocks:
            return 'it runs earlier blocks itself, per window'
        return ''

    @property
    def stitchable(self) -> bool:
        """Whether the variant can run stitched (:meth:`unstitchable_reason` is empty)."""
        return not self.unstitchable_reason()

    @classmethod
    def settings_for(cls, width: int, num_blocks: int) -> Dict[str, Any]:
        """Settings that let the variant run on a vision tower of this width and depth when its defaults cannot
        (e.g. channel indices of ViT-B/16 on a tiny test model); default: none needed."""
        return {}

    def run_block(self, index: int, block: nn.Module, x: torch.Tensor, ctx: AttnContext) -> torch.Tensor:
        """Run block ``index`` (listed in ``Recording.run_blocks``) on ``x`` (B, T, D); return its output (B, T, D)."""
        raise NotImplementedError(f'{type(self).__name__} lists block {index} in run_blocks but has no run_block()')

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, ctx: AttnContext) -> torch.Tensor:
        raise NotImplementedError(f'{type(self).__name__} must override attend() or forward()')

    def forward(self, block: nn.Module, x: torch.Tensor, ctx: AttnContext) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Run the last block on ``x`` (B, T, D); return the patch tokens (B, h*w, D) and their grid (h, w)."""
        q, k, v = qkv_projection(block, x)
        out = block.attn.out_proj(merge_heads(self.attend(q, k, v, ctx)))
        return residual_and_ffn(block, x, out, self.keep_residual, self.keep_ffn)[:, 1:], ctx.grid

    def extra_repr(self) -> str:
        return f'keep_residual={self.keep_residual}, keep_ffn={self.keep_ffn}'


def check_block_indices(owner: str, indices: List[int], num_blocks: int, hint: str = '') -> None:
    """Refuse block indices that do not precede the last block (only outputs 0..L-2 exist before it)."""
    bad = [i for i in indices if not 0 <= i <= num_blocks - 2]
    if bad:
        raise ValueError(f'{owner} reads block(s) {bad}, but a {num_blocks}-block vision tower records only '
                         f'0..{num_blocks - 2} before its last block{hint}')
