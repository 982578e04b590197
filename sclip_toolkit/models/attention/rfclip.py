"""RF-CLIP (AAAI 2026; github.com/liblacklucy/RF-CLIP @ c2b333e) as a variant that runs every block of the tower.

RF-CLIP changes more than the last attention. Every block before the last runs here (``Recording.run_blocks``): its
attention (optionally "refocused"), then feature denoising of the sink-channel tokens, and its key-key attention map
is kept. The last block runs once as stock CLIP for the CLS embedding (handed on as ``ctx.extras['cls']`` to
:class:`~sclip_toolkit.models.heads.RFCLIPHead`), and twice more with an attention that is the mean of all layers'
key-key maps, on two similarity-enhanced inputs. docs/methods.md#rf-clip has the formulas.

The pieces are plain functions so each can be tested on its own. Everything is per image, so a batch of crops gives
the crops' own results (the reference only runs one image at a time).

Shapes: B batch, H heads, N = h*w patch tokens (row-major), T = 1 + N tokens with CLS first, D width.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...exceptions import ConfigError
from ..bf16_blocks import linear  # F.linear, with the bias fused for bf16 on CPU
from .base import AttnContext, FinalAttention, Recording, merge_heads, qkv_projection, register_attention, \
    residual_and_ffn

# Channels where ViT-B/16's and ViT-L/14's attention-sink tokens peak (the reference's feat_denoising lists; the
# released code uses the B/16 list for every model, the L/14 one is commented out).
SINK_CHANNELS: Dict[str, Tuple[int, ...]] = {
    'vit-b16': (4, 162, 189, 326, 429, 474, 633, 713),
    'vit-l14': (250, 261, 437, 650, 720, 779, 936, 1005),
}
_AUTO = {768: 'vit-b16', 1024: 'vit-l14'}  # vision width -> list, for sink_channels='auto'


def feature_denoising(x: torch.Tensor, grid: Tuple[int, int], channels: Sequence[int], sigma: float = 5.0,
                      alpha: float = 0.4) -> torch.Tensor:
    """RF-CLIP's feature denoising: patch tokens that peak in a sink channel are blended with their 3x3 mean.

    f = x's patch tokens; fn = (f - min f) / sum(f - min f) over channels; a token is a sink token when max over
    ``channels`` of fn > sigma / D. Sink tokens become the 3x3 zero-padded box mean (always divided by 9); then every
    patch token is ``(1 - alpha) * f + alpha * f'`` (others change only by rounding). CLS is kept.

    Args:
        x: tokens (B, T, D); grid: (h, w) with h*w = T - 1.

    Returns:
        a new (B, T, D) tensor.
    """
    b, t, d = x.shape
    h, w = grid
    f = x[:, 1:]
    shifted = f - f.min(dim=-1, keepdim=True).values
    share = shifted / shifted.sum(dim=-1, keepdim=True).clamp(min=1e-8)
    sink = share[..., list(channels)].max(dim=-1).values > sigma * (1.0 / d)  # (B, N)
    # the reference's depthwise 3x3 convolution with weights 1/9 is a zero-padded 3x3 average pool; on the
    # channels-last view of the tokens it needs no transposed copy of the stream
    grid_view = f.reshape(b, h, w, d).permute(0, 3, 1, 2)
    mean = F.avg_pool2d(grid_view, 3, stride=1, padding=1, count_include_pad=True).permute(0, 2, 3, 1)
    mean = mean.reshape(b, h * w, d)
    out = x.clone()
    out[:, 1:] = (1 - alpha) * f + alpha * torch.where(sink[..., None], mean, f)
    return out


def feature_enhancing(x: torch.Tensor, guide: torch.Tensor, beta: float = 0.4) -> torch.Tensor:
    """RF-CLIP's feature enhancing: patch tokens of ``x`` become sums of patch tokens weighted by the cosine
    similarity of the ``guide``'s patch tokens, similarities below ``beta`` set to 0 (no normalisation). CLS kept.

    Args:
        x, guide: tokens (B, T, D).

    Returns:
        a new (B, T, D) tensor.
    """
    g = guide[:, 1:]
    g = g / g.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    sim = g @ g.transpose(1, 2)  # (B, N, N)
    sim = sim.masked_fill(sim < beta, 0)
    out = x.clone()
    out[:, 1:] = sim @ x[:, 1:]
    return out


def refocus_attention(attn: torch.Tensor, threshold: float = 0.1, beta: float = 0.6) -> torch.Tensor:
    """The reference's (inactive by default) attention redistribution, per head.

    Sink columns: patch columns whose summed attention from the patches, divided by T, exceeds ``threshold``. In a
    head with sinks, the patch rows' weights on sink columns are scaled by ``beta`` and the removed mass is spread
    over the other patch columns in proportion to their weights. CLS row and column untouched.

    Args:
        attn: softmax attention (B, H, T, T).

    Returns:
        a new (B, H, T, T) tensor.
    """
    t = attn.shape[-1]
    patches = attn[..., 1:, 1:]
    sink = (patches.sum(dim=-2) / t > threshold)[..., None, :]  # (B, H, 1, N)
    removed = (patches * sink).sum(dim=-1, keepdim=True) * (1 - beta)  # (B, H, N, 1)
    decayed = torch.where(sink, patches * beta, patches)
    others = decayed.masked_fill(sink, 0)
    out = attn.clone()
    out[..., 1:, 1:] = decayed + removed * (others / (others.sum(dim=-1, keepdim=True) + 1e-8))
    return out


def softmax_attention(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """softmax((a / sqrt(d)) b^T) over the last axis: (B, H, T, d) x (B, H, T, d) -> (B, H, T, T)."""
    return ((a * a.shape[-1] ** -0.5) @ b.transpose(-2, -1)).softmax(dim=-1)


@register_attention('rfclip')
class RFCLIPAttention(FinalAttention):
    """RF-CLIP: per-block feature denoising and key-key map recording, a layer-averaged key-key last attention.

    Args:
        sink_channels: 'vit-b16' (the released list, used by the reference for every model), 'vit-l14', 'auto'
            (by the vision width: 768 -> vit-b16, 1024 -> vit-l14) or a list of channel indices; every index must
            be below the vision width.
        strategy: 'vanilla' (the released code: intermediate attention unchanged) or 'refocus' (the paper's
            attention redistribution, :func:`refocus_attention`).
        refocus_threshold / refocus_beta: the redistribution's settings (0.1, 0.6).
        denoise_sigma / denoise_alpha: feature denoising's settings (5.0, 0.4).
        enhance_beta: feature enhancing's similarity cut (0.4).
    """

    keep_residual = False
    keep_ffn = False

    def __init__(self, sink_channels: Union[str, Sequence[int]] = 'vit-b16', strategy: str = 'vanilla',
                 refocus_threshold: float = 0.1, refocus_beta: float = 0.6, denoise_sigma: float = 5.0,
                 denoise_alpha: float = 0.4, enhance_beta: float = 0.4):
        super().__init__()
        if strategy not in ('vanilla', 'refocus'):
            raise ValueError(f"RFCLIPAttention strategy must be 'vanilla' or 'refocus', got {strategy!r}")
        if isinstance(sink_channels, str) and sink_channels not in (*SINK_CHANNELS, 'auto'):
            raise ValueError(f'RFCLIPAttention sink_channels must be one of {[*SINK_CHANNELS, "auto"]} or a list of '
                             f'channel indices, got {sink_channels!r}')
        if not isinstance(sink_channels, str):
            sink_channels = tuple(sink_channels)
            if not sink_channels or not all(isinstance(c, int) and c >= 0 for c in sink_channels):
                raise ValueError(f'RFCLIPAttention sink_channels must be a non-empty list of channel indices >= 0, '
                                 f'got {list(sink_channels)!r}')
        self.sink_channels, self.strategy = sink_channels, strategy
        self.refocus_threshold, self.refocus_beta = float(refocus_threshold), float(refocus_beta)
        self.denoise_sigma, self.denoise_alpha = float(denoise_sigma), float(denoise_alpha)
        self.enhance_beta = float(enhance_beta)

    @classmethod
    def settings_for(cls, width: int, num_blocks: int) -> Dict[str, Any]:
        """Narrower towers than ViT-B/16 get the B/16 channels scaled to their width (for tests; not a method)."""
        if width > max(SINK_CHANNELS['vit-b16']):
            return {}
        return {'sink_channels': sorted({c * width // 768 for c in SINK_CHANNELS['vit-b16']})}

    def channels(self, width: int) -> Tuple[int, ...]:
        """The sink channels for a tower of this width; a clear error when an index does not exist there."""
        name = self.sink_channels
        if name == 'auto':
            if width not in _AUTO:
                raise ConfigError(f"RFCLIPAttention sink_channels='auto' knows widths {sorted(_AUTO)}, this vision "
                                  f'tower is {width} wide; give sink_channels=[...] (indices < {width})')
            name = _AUTO[width]
        channels = SINK_CHANNELS[name] if isinstance(name, str) else name
        if max(channels) >= width:
            raise ConfigError(f'RFCLIPAttention sink_channels {name if isinstance(name, str) else list(name)} has '
                              f'channel {max(channels)}, but this vision tower is only {width} wide; give '
                              f'model.clip.final_attn.sink_channels=[...] with indices < {width} (ViT-L/14: '
                              f"'vit-l14' or 'auto')")
        return tuple(channels)

    def recording(self, num_blocks: int) -> Recording:
        return Recording(run_blocks=tuple(range(num_blocks - 1)))

    def _denoise(self, x: torch.Tensor, ctx: AttnContext) -> torch.Tensor:
        return feature_denoising(x, ctx.grid, self.channels(x.shape[-1]), self.denoise_sigma, self.denoise_alpha)

    def run_block(self, index: int, block: nn.Module, x: torch.Tensor, ctx: AttnContext) -> torch.Tensor:
        """An intermediate block: (refocused) attention, residual + FFN, denoising; adds its key-key map (patch
        rows and columns) to a running sum, so memory does not grow with depth."""
        q, k, v = qkv_projection(block, x)
        if self.strategy == 'refocus':
            mixed = refocus_attention(softmax_attention(q, k), self.refocus_threshold, self.refocus_beta) @ v
        else:  # the same softmax(q k^T / sqrt(d)) v, fused
            mixed = F.scaled_dot_product_attention(q, k, v)
        x = residual_and_ffn(block, x, linear(merge_heads(mixed), block.attn.out_proj.weight, block.attn.out_proj.bias),
                             True, True)
        x = self._denoise(x, ctx)
        kk = softmax_attention(k, k)[..., 1:, 1:]
        ctx.state['rfclip_kk'] = kk if index == 0 else ctx.state['rfclip_kk'] + kk
        ctx.state['rfclip_layers'] = index + 1
        ctx.state.setdefault('rfclip_guide', []).append(x)
        return x

    def _layer_mean_attention(self, block: nn.Module, x: torch.Tensor, kk_sum, layers: int) -> torch.Tensor:
        """Patch tokens (B, N, D): the mean over ``layers`` earlier key-key maps (their patch part summed in
        ``kk_sum``, or None) and the last block's on ``x``, applied to ``x``'s values."""
        _, k, v = qkv_projection(block, x)
        last = softmax_attention(k, k)[..., 1:, 1:]
        maps = (last if kk_sum is None else kk_sum + last) / (layers + 1)
        return block.attn.out_proj(merge_heads(maps @ v[..., 1:, :]))

    def forward(self, block: nn.Module, x: torch.Tensor, ctx: AttnContext) -> Tuple[torch.Tensor, Tuple[int, int]]:
        kk, layers = ctx.state.get('rfclip_kk'), ctx.state.get('rfclip_layers', 0)
        guide = list(ctx.state.get('rfclip_guide', []))
        if layers != len(ctx.blocks) - 1:
            raise RuntimeError('RFCLIPAttention needs every earlier block run through run_block (recording())')
        last = self._denoise(block(x), ctx)  # the stock last block: its CLS is the global embedding
        guide.append(last)
        visual = ctx.visual
        cls = visual.ln_post(last[:, 0])
        ctx.extras['cls'] = cls @ visual.proj.to(cls.dtype)
        mean_guide = torch.stack(guide).mean(dim=0)
        first = self._layer_mean_attention(block, feature_enhancing(x, mean_guide, self.enhance_beta), kk, layers)
        second = self._layer_mean_attention(block, feature_enhancing(mean_guide, mean_guide, self.enhance_beta), kk,
                                            layers)
        return torch.stack([first, second]).mean(dim=0), ctx.grid

    def extra_repr(self) -> str:
        return f'sink_channels={self.sink_channels!r}, strategy={self.strategy!r}'
