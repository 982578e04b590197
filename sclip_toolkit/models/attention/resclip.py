"""ResCLIP (Yang et al., CVPR 2025; github.com/yvhangyang/ResCLIP @ 0e085f7) as a final-block variant.

ResCLIP sits on top of a training-free base attention (NACLIP's, SCLIP's, ClearCLIP's or CLIP's own) and changes
the last block's attention map twice:

* RCS (residual cross-correlation self-attention): the mean attention map R of intermediate blocks (5..8) is
  mixed into the final map after its softmax;
* SFR (semantic feedback refinement): the last block runs once with RCS only; its segmentation of the crop
  (against the class-name embeddings, refined with PAMR) gives patch labels, from which an affinity S between
  patches is built (:mod:`.resclip_sfr`) and mixed into the final attention logits of the second, real pass.

Both mixes are tau * ((1 - lambda) * X + lambda * Y) with (tau, lambda) from ``attn_rcs_weights`` /
``attn_sfr_weights``; rows are not renormalised afterwards. docs/methods.md#resclip has the math and the
differences between the released code, the paper and this implementation. Every step runs per image, so a batch
of crops gives what the crops give one at a time (the reference supports one crop per forward pass).
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..postprocess.pamr import pamr
from .base import (AttnContext, FinalAttention, Recording, check_block_indices, merge_heads, qkv_projection,
                   register_attention, residual_and_ffn)
from .resclip_sfr import patch_labels, sfr_matrix
from .variants import gaussian_window_bias

logger = logging.getLogger(__name__)

# base attention -> (keeps residual and FFN by default, as the toolkit's own variant of that name)
BASES = {'naclip': False, 'clearclip': False, 'sclip': True, 'vanilla': True}


def _weights(name: str, value) -> Tuple[float, float]:
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(x, (int, float)) for x in value)):
        raise ValueError(f'ResCLIPAttention {name} must be a pair (tau, lambda) of numbers, e.g. [2.0, 0.3], '
                         f'got {value!r}')
    return float(value[0]), float(value[1])


def _mix(x: torch.Tensor, other: torch.Tensor, weights: Tuple[float, float]) -> torch.Tensor:
    """tau * ((1 - lam) * x + lam * other) in ``x``'s dtype; ``lam * other`` is formed in ``other``'s dtype (fp16 for
    S). In fp32 and fp16 type promotion gives ``x``'s dtype already; bf16 + fp16 would promote to fp32."""
    tau, lam = weights
    return (tau * ((1 - lam) * x + lam * other)).to(x.dtype)


@register_attention('resclip')
class ResCLIPAttention(FinalAttention):
    """ResCLIP: intermediate-layer attention (RCS) and a semantic feedback (SFR) on a base attention.

    Args:
        base: base attention: 'naclip' (k-k + Gaussian window; the reference's 'resclip' and 'naclip'), 'sclip'
            (q-q and k-k softmaxes summed), 'clearclip' (q-q) or 'vanilla' (q-k).
        keep_residual / keep_ffn: None: the base's own choice (kept for 'sclip' and 'vanilla', the reference's
            ``arch='w_resi'``; dropped for 'naclip' and 'clearclip', ``'wo_resi'``).
        use_rcs / use_sfr: RCS and SFR on (default; the released code ignores both switches and always uses
            them) or off.
        rcs_layers: blocks whose attention maps are averaged into R (0-based; the reference's 5..8).
        attn_rcs_weights / attn_sfr_weights: (tau, lambda) of the RCS and SFR mixes.
        temp_thd: pixels of the first segmentation whose top probability is below this get label 0.
        gaussian_std: std in patches of NACLIP's window and of the SFR row blur.
        delete_same_entity: decay same-label pairs not joined by a same-label path.
        sfr_logit_scale: temperature of the first segmentation's softmax (the segmentor's logit scale, 40).
        sfr_pamr_steps / sfr_pamr_dilations: PAMR on the first segmentation (10, (8, 16); 0 steps: off).
        path_check: 'reference' (each pair's path sampled at the grid's longest step count, so short pairs are
            checked only part of the way) or 'full' (the whole path from a to b).
        sfr_dtype: 'fp16' (S rounded to float16 whatever the model dtype, as the released code) or 'model'.
        sfr_labels: 'query' (patch labels are name indices, as released) or 'class' (class indices).
    """

    def __init__(self, base: str = 'naclip', keep_residual: Optional[bool] = None, keep_ffn: Optional[bool] = None,
                 use_rcs: bool = True, use_sfr: bool = True, rcs_layers: Sequence[int] = (5, 6, 7, 8),
                 attn_rcs_weights: Sequence[float] = (2.0, 0.6), attn_sfr_weights: Sequence[float] = (2.1, 0.6),
                 temp_thd: float = 0.1, gaussian_std: float = 5.0, delete_same_entity: bool = True,
                 sfr_logit_scale: float = 40.0, sfr_pamr_steps: int = 10, sfr_pamr_dilations: Sequence[int] = (8, 16),
                 path_check: str = 'reference', sfr_dtype: str = 'fp16', sfr_labels: str = 'query'):
        if base == 'resclip':
            raise ValueError("ResCLIPAttention base 'resclip' is the reference's name of NACLIP's attention (the "
                             "same code as its 'naclip'); use base='naclip'")
        if base not in BASES:
            raise ValueError(f'ResCLIPAttention base must be one of {sorted(BASES)}, got {base!r}')
        keeps = BASES[base]
        super().__init__(keeps if keep_residual is None else keep_residual, keeps if keep_ffn is None else keep_ffn)
        if not (isinstance(rcs_layers, (list, tuple)) and rcs_layers and all(isinstance(i, int) for i in rcs_layers)):
            raise ValueError(f'ResCLIPAttention rcs_layers must be a non-empty list of block indices, got '
                             f'{rcs_layers!r}')
        if not 0 <= temp_thd <= 1:
            raise ValueError(f'ResCLIPAttention temp_thd must be a probability in [0, 1], got {temp_thd!r}')
        if gaussian_std <= 0:
            raise ValueError(f'ResCLIPAttention gaussian_std must be > 0, got {gaussian_std!r}')
        if not sfr_logit_scale > 0:
            raise ValueError(f'ResCLIPAttention sfr_logit_scale must be > 0, got {sfr_logit_scale!r}')
        if not isinstance(sfr_pamr_steps, int) or sfr_pamr_steps < 0:
            raise ValueError(f'ResCLIPAttention sfr_pamr_steps must be an int >= 0 (0: off), got {sfr_pamr_steps!r}')
        if not sfr_pamr_dilations or any(not isinstance(d, int) or d < 1 for d in sfr_pamr_dilations):
            raise ValueError(f'ResCLIPAttention sfr_pamr_dilations must be ints >= 1, e.g. [8, 16], got '
                             f'{sfr_pamr_dilations!r}')
        for name, value, valid in (('path_check', path_check, ('reference', 'full')),
                                   ('sfr_dtype', sfr_dtype, ('fp16', 'model')),
                                   ('sfr_labels', sfr_labels, ('query', 'class'))):
            if value not in valid:
                raise ValueError(f'ResCLIPAttention {name} must be one of {valid}, got {value!r}')
        self.base, self.use_rcs, self.use_sfr = base, bool(use_rcs), bool(use_sfr)
        self.rcs_layers = tuple(rcs_layers)
        self.rcs_weights = _weights('attn_rcs_weights', attn_rcs_weights)
        self.sfr_weights = _weights('attn_sfr_weights', attn_sfr_weights)
        self.temp_thd, self.gaussian_std = float(temp_thd), float(gaussian_std)
        self.delete_same_entity = bool(delete_same_entity)
        self.sfr_logit_scale, self.sfr_pamr_steps = float(sfr_logit_scale), sfr_pamr_steps
        self.sfr_pamr_dilations = tuple(sfr_pamr_dilations)
        self.path_check, self.sfr_dtype, self.sfr_labels = path_check, sfr_dtype, sfr_labels
        self._omega_cache: Dict[tuple, torch.Tensor] = {}

    def recording(self, num_blocks: int) -> Recording:
        """The attention maps of ``rcs_layers`` (RCS) and the class embeddings (SFR), as switched on."""
        if self.use_rcs:
            check_block_indices(f'ResCLIPAttention (rcs_layers={list(self.rcs_layers)})', list(self.rcs_layers),
                                num_blocks, '. The reference averages blocks 5..8 of ViT-B/16 (12 blocks).')
        return Recording(attn=self.rcs_layers if self.use_rcs else (), text=self.use_sfr)

    # ------------------------------------------------------------------ attention
    def attention_map(self, q: torch.Tensor, k: torch.Tensor, ctx: AttnContext, rcs: Optional[torch.Tensor],
                      sfr: Optional[torch.Tensor]) -> torch.Tensor:
        """The final attention (B, heads, T, T) of the base, with the SFR mix on its logits and RCS after softmax.

        Args:
            q, k: (B, heads, T, d).
            rcs: R (B, heads, T, T) or None.
            sfr: S (B, 1, T, T), already scaled to max 1 and in its mixing dtype, or None.
        """
        scale = q.shape[-1] ** -0.5
        if self.base == 'naclip':
            logits = [(k @ k.transpose(-2, -1)) * scale]
        elif self.base == 'sclip':
            logits = [(q @ q.transpose(-2, -1)) * scale, (k @ k.transpose(-2, -1)) * scale]
        elif self.base == 'clearclip':
            logits = [(q @ q.transpose(-2, -1)) * scale]
        else:  # vanilla: the scale on q before the product, as CLIP's own attention
            logits = [(q * scale) @ k.transpose(-2, -1)]
        if sfr is not None:
            logits = [_mix(a, sfr, self.sfr_weights) for a in logits]
        if self.base == 'naclip':
            logits[0] = logits[0] + self._omega(ctx.grid, q.dtype, q.device)
        attn = logits[0].softmax(dim=-1)
        for extra in logits[1:]:
            attn = attn + extra.softmax(dim=-1)
        if rcs is not None:
            attn = _mix(attn, rcs, self.rcs_weights)
        return attn

    def _omega(self, grid: Tuple[int, int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        key = (grid, dtype, device)
        if key not in self._omega_cache:
            self._omega_cache[key] = gaussian_window_bias(*grid, self.gaussian_std, dtype, device)
        return self._omega_cache[key]

    def _block_output(self, block: nn.Module, x: torch.Tensor, attn: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        out = block.attn.out_proj(merge_heads(attn @ v))
        return residual_and_ffn(block, x, out, self.keep_residual, self.keep_ffn)

    # ------------------------------------------------------------------ semantic feedback
    def first_segmentation(self, tokens: torch.Tensor, image: torch.Tensor, ctx: AttnContext) -> torch.Tensor:
        """Name probabilities (Q, H, W) of one crop (1, 3, H, W) from its first-pass tokens (1, T, D)."""
        visual, names = ctx.visual, ctx.text.names
        feats = visual.ln_post(tokens[:, 1:]) @ visual.proj.to(tokens.dtype)
        feats = feats / feats.norm(dim=-1, keepdim=True)
        logits = (feats @ names.t().to(feats.dtype)).transpose(1, 2).reshape(1, -1, *ctx.grid)
        logits = F.interpolate(logits, size=image.shape[-2:], mode='bilinear', align_corners=False)
        if self.sfr_pamr_steps > 0:
            try:  # the released code skips PAMR silently when it fails; we say so
                logits = pamr(image, logits.to(image.dtype), self.sfr_pamr_steps,
                              self.sfr_pamr_dilations).to(logits.dtype)
            except RuntimeError as exc:
                logger.warning('ResCLIP: PAMR of the first segmentation failed (%s); using it unrefined',
                               str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return (logits[0] * self.sfr_logit_scale).softmax(dim=0)

    def feedback(self, tokens: torch.Tensor, ctx: AttnContext) -> torch.Tensor:
        """S (B, 1, T, T), scaled to max 1, from the first pass's tokens (B, T, D), one crop at a time."""
        patch = ctx.visual.conv1.kernel_size[0]
        mats: List[torch.Tensor] = []
        for i in range(tokens.shape[0]):
            probs = self.first_segmentation(tokens[i:i + 1], ctx.image[i:i + 1], ctx)
            labels = patch_labels(probs, patch, ctx.grid, self.temp_thd)
            if self.sfr_labels == 'class':
                labels = ctx.text.query_idx.to(labels.device)[labels]
            m = sfr_matrix(labels, self.gaussian_std, self.delete_same_entity, self.path_check)
            mats.append((m / m.max()).to(torch.float16 if self.sfr_dtype == 'fp16' else tokens.dtype))
        return torch.stack(mats).unsqueeze(1)

    # ------------------------------------------------------------------ forward
    def forward(self, block: nn.Module, x: torch.Tensor, ctx: AttnContext) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch tokens (B, N, D) of the last block for its input ``x`` (B, T, D)."""
        q, k, v = qkv_projection(block, x)
        rcs = None
        if self.use_rcs:
            rcs = torch.stack([ctx.record(i).attn for i in self.rcs_layers]).mean(dim=0)
        sfr = None
        if self.use_sfr:
            if ctx.text is None:
                raise ValueError('ResCLIPAttention with use_sfr=True needs the class embeddings: call '
                                 'encode_dense(..., text=ClassEmbeddings) (the segmentor passes them)')
            sfr = self.feedback(self._block_output(block, x, self.attention_map(q, k, ctx, rcs, None), v), ctx)
        out = self._block_output(block, x, self.attention_map(q, k, ctx, rcs, sfr), v)
        return out[:, 1:], ctx.grid

    def extra_repr(self) -> str:
        return (f'base={self.base}, {super().extra_repr()}, use_rcs={self.use_rcs}, use_sfr={self.use_sfr}, '
                f'rcs_layers={self.rcs_layers}, rcs={self.rcs_weights}, sfr={self.sfr_weights}, '
                f'temp_thd={self.temp_thd}, std={self.gaussian_std}, delete_same_entity={self.delete_same_entity}, '
                f'path_check={self.path_check}, sfr_dtype={self.sfr_dtype}, sfr_labels={self.sfr_labels}')
