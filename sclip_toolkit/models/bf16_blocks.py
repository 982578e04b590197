"""bf16 residual blocks on CPU: oneDNN linears with bias, activation and residual add fused, and fused attention.

In bf16 on CPU the stock open_clip block spends about as long outside its matmuls as in them: ``addmm`` copies
the bias into its output before each product, ``nn.MultiheadAttention``'s fast path runs explicit scores, softmax
and two batched products with a re-layout of q/k/v, and QuickGELU is three element-wise passes.
:class:`FusedResidualBlock` computes the same function as the stock block with oneDNN's linear post-ops (bias,
SiLU or GELU, residual add; ``torch.ops.mkldnn._linear_pointwise``, what ``torch.compile`` emits for these
patterns on CPU) and ``scaled_dot_product_attention``. Without oneDNN it falls back to ``F.linear`` and separate
element-wise ops; anything it does not cover (masks, cross-attention, layer scale, other dtypes or devices) runs
the stock forward.

QuickGELU ``h * sigmoid(1.702 h)`` becomes SiLU when ``c_fc`` is scaled by 1.702 and ``c_proj``'s weight by
1 / 1.702 (:func:`fold_quick_gelu`); ``block.mlp`` then computes the same function for every caller (attention
variants call it directly), in one pass instead of three.
"""
from __future__ import annotations

import functools
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from open_clip.transformer import QuickGELU, ResidualAttentionBlock

QUICK_GELU_SCALE = 1.702


class FoldedQuickGELU(nn.SiLU):
    """SiLU standing for QuickGELU after :func:`fold_quick_gelu` scaled the MLP's weights (marks the fold)."""


def fold_quick_gelu(mlp: nn.Module) -> bool:
    """Turn ``c_fc -> QuickGELU -> c_proj`` into ``1.702 c_fc -> SiLU -> c_proj / 1.702`` in place (same function).

    Returns whether the MLP was folded (False: its activation is not QuickGELU, or it is folded already).
    """
    if not isinstance(getattr(mlp, 'gelu', None), QuickGELU) or isinstance(mlp.gelu, FoldedQuickGELU):
        return False
    with torch.no_grad():
        mlp.c_fc.weight.mul_(QUICK_GELU_SCALE)
        mlp.c_fc.bias.mul_(QUICK_GELU_SCALE)
        mlp.c_proj.weight.div_(QUICK_GELU_SCALE)
    mlp.gelu = FoldedQuickGELU()
    return True


def unfold_quick_gelu(mlp: nn.Module) -> bool:
    """Undo :func:`fold_quick_gelu` (in the weights' current dtype); returns whether it was folded."""
    if not isinstance(getattr(mlp, 'gelu', None), FoldedQuickGELU):
        return False
    with torch.no_grad():
        mlp.c_fc.weight.div_(QUICK_GELU_SCALE)
        mlp.c_fc.bias.div_(QUICK_GELU_SCALE)
        mlp.c_proj.weight.mul_(QUICK_GELU_SCALE)
    mlp.gelu = QuickGELU()
    return True


@functools.lru_cache(maxsize=None)
def onednn_linear():
    """oneDNN's fused linear op (``torch.ops.mkldnn._linear_pointwise``) when this build has it with bf16, else None."""
    if not torch.backends.mkldnn.is_available():
        return None
    op = getattr(torch.ops.mkldnn, '_linear_pointwise', None)
    supported = getattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', None)
    try:
        if op is None or (supported is not None and not supported()):
            return None
    except RuntimeError:
        return None
    return op


def _activation(act: nn.Module):
    """oneDNN post-op (name, algorithm) of an MLP activation, or None when it has none."""
    if isinstance(act, FoldedQuickGELU) or type(act) is nn.SiLU:
        return 'swish', ''
    if type(act) is nn.GELU:
        return 'gelu', act.approximate
    return None


def _op_for(x: torch.Tensor):
    return onednn_linear() if x.dtype == torch.bfloat16 and x.device.type == 'cpu' else None


def linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``F.linear``; for bf16 on CPU through oneDNN with the bias fused (``addmm`` first copies it into the output)."""
    op = _op_for(x)
    return F.linear(x, weight, bias) if op is None or bias is None else op(x, weight, bias, 'none', [], '')


def feed_forward(mlp: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``mlp(x)`` of a block's ``c_fc -> activation -> c_proj``; for bf16 on CPU with bias and activation fused."""
    op, act = _op_for(x), _activation(getattr(mlp, 'gelu', None))
    if op is None or act is None:
        return mlp(x)
    hidden = op(x, mlp.c_fc.weight, mlp.c_fc.bias, act[0], [], act[1])
    return op(hidden, mlp.c_proj.weight, mlp.c_proj.bias, 'none', [], '')


class FusedResidualBlock(ResidualAttentionBlock):
    """open_clip's residual block (same parameters, same function) with a fused forward for bf16 on CPU."""

    def fusable(self, x: torch.Tensor) -> bool:
        """Whether the fused forward covers this block and input (else the stock forward runs)."""
        return (x.dtype == torch.bfloat16 and x.device.type == 'cpu' and x.dim() == 3
                and self.attn.batch_first and not hasattr(self, 'ln_1_kv')
                and isinstance(self.ls_1, nn.Identity) and isinstance(self.ls_2, nn.Identity)
                and self.attn.in_proj_weight is not None and self.attn.in_proj_bias is not None
                and _activation(self.mlp.gelu) is not None)

    def forward(self, q_x: torch.Tensor, k_x: Optional[torch.Tensor] = None, v_x: Optional[torch.Tensor] = None,
                attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if k_x is not None or v_x is not None or attn_mask is not None or not self.fusable(q_x):
            return super().forward(q_x, k_x, v_x, attn_mask)
        return self.fused_forward(q_x)

    def fused_forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) bf16 tokens -> the block's output (B, T, D)."""
        op, attn, mlp = onednn_linear(), self.attn, self.mlp
        b, t, d = x.shape
        heads = attn.num_heads
        h = self.ln_1(x)
        qkv = (op(h, attn.in_proj_weight, attn.in_proj_bias, 'none', [], '') if op is not None
               else F.linear(h, attn.in_proj_weight, attn.in_proj_bias))
        q, k, v = qkv.view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)  # each (B, heads, T, d)
        mixed = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        act, algorithm = _activation(mlp.gelu)
        if op is None:
            x = x + F.linear(mixed, attn.out_proj.weight, attn.out_proj.bias)
            return x + mlp.c_proj(mlp.gelu(mlp.c_fc(self.ln_2(x))))
        x = op.binary(mixed, x, attn.out_proj.weight, attn.out_proj.bias, 'add')
        hidden = op(self.ln_2(x), mlp.c_fc.weight, mlp.c_fc.bias, act, [], algorithm)
        return op.binary(hidden, x, mlp.c_proj.weight, mlp.c_proj.bias, 'add')


def use_fused_blocks(blocks, enable: bool) -> None:
    """Switch stock residual blocks to :class:`FusedResidualBlock` (QuickGELU folded into SiLU) or back, in place.

    Call it on fp32 weights: folding scales them before any rounding to bf16.
    """
    for block in blocks:
        if enable and type(block) is ResidualAttentionBlock:
            fold_quick_gelu(block.mlp)
            block.__class__ = FusedResidualBlock
        elif not enable and type(block) is FusedResidualBlock:
            unfold_quick_gelu(block.mlp)
            block.__class__ = ResidualAttentionBlock
