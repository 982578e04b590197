"""One CLIP wrapper for every method: open_clip's model with a dense forward and a swappable last block.

Loading: an OpenAI release by name (``'ViT-B/16'``, downloaded to ``~/.cache/clip`` with its SHA-256 checked), an
open_clip model + pretrained tag (``name='ViT-B-16', pretrained='laion2b_s34b_b88k'``), or a local checkpoint in
the OpenAI layout (state dict or TorchScript archive), whose architecture is read from its tensor shapes.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from .attention import AttnContext, FinalAttention, build_attention, run_block_recorded
from .checkpoint import (CheckpointError, build_clip_from_state_dict, checkpoint_semantics,
                         fetch_openai_checkpoint, file_fingerprint, load_state_dict, normalize_openai_name)
from .stages import staged


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """'auto' is fp16 on CUDA (the references' flow) and fp32 elsewhere; 'fp32' / 'fp16' / 'bf16' force it."""
    table = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}
    if precision == 'auto':
        return torch.float16 if device.type == 'cuda' else torch.float32
    if precision not in table:
        raise ValueError(f"precision must be 'auto', 'fp32', 'fp16' or 'bf16', got {precision!r}")
    return table[precision]


def output_dtype(model_dtype: torch.dtype) -> torch.dtype:
    """The dtype of what leaves the encoders (features, text embeddings, logits, 'model' score and window-sum dtypes)
    for an activation dtype: bf16 becomes fp32, since its 8 mantissa bits round cosine logits (x40) and their sums
    enough to change labels; fp16 (the references' CUDA flow, which the parity fixtures follow) and fp32 stay."""
    return torch.float32 if model_dtype == torch.bfloat16 else model_dtype


def interpolate_pos_embed(pos: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
    """Resize CLIP's (G*G + 1, D) positional embedding to an (h, w) patch grid, as all five references do.

    Bicubic with the *scale factor* (h + 0.1) / G passed to the kernel (the DINO recipe): the result differs
    materially from resizing to a size, and it is what the published numbers were made with.
    """
    n, dim = pos.shape
    g = int(math.isqrt(n - 1))
    h, w = grid
    if (h, w) == (g, g):
        return pos
    cls_pos, grid_pos = pos[:1], pos[1:].reshape(1, g, g, dim).permute(0, 3, 1, 2)
    grid_pos = F.interpolate(grid_pos.float(), scale_factor=((h + 0.1) / g, (w + 0.1) / g), mode='bicubic',
                             align_corners=False)
    assert grid_pos.shape[-2:] == (h, w), (grid_pos.shape, grid)
    return torch.cat([cls_pos.float(), grid_pos.permute(0, 2, 3, 1).reshape(h * w, dim)], dim=0)


@MODELS.register_module()
class CLIPBackbone(nn.Module):
    """open_clip CLIP with a dense forward whose last block's attention is a registered variant.

    Args:
        name: OpenAI release ('ViT-B/16'), or an open_clip architecture name when ``pretrained`` is an open_clip tag.
        pretrained: 'openai' (OpenAI release file) or an open_clip pretrained tag ('laion2b_s34b_b88k', ...).
        checkpoint: a local checkpoint file in the OpenAI layout; replaces the weights ``name``/``pretrained``
            would download. It is loaded as the configured model would be (:func:`checkpoint_semantics`): with
            ``pretrained='openai'`` (or None) as OpenAI's loader does (fp16-rounded), with an open_clip tag as
            open_clip's ``load_checkpoint`` does (exact, the architecture's activation).
        final_attn: the last block's attention: a config dict, a short name ('sclip') or a class name.
        vfm: optional config of a vision foundation model whose features the variant receives (ProxyCLIP).
        precision: 'auto' (fp16 on CUDA as the references, fp32 on CPU), 'fp32', 'fp16' or 'bf16'.
        download: fetch missing OpenAI weights when online.
    """

    def __init__(self, name: str = 'ViT-B/16', pretrained: Optional[str] = 'openai', checkpoint: Optional[str] = None,
                 final_attn: Any = 'vanilla', vfm: Optional[dict] = None, precision: str = 'auto',
                 download: bool = True):
        super().__init__()
        self.name, self.pretrained, self.precision = name, pretrained, precision
        self.model, self.checkpoint_id = self._load(name, pretrained, checkpoint, download)
        self.model.requires_grad_(False)
        self.final_attn: FinalAttention = build_attention(final_attn)
        self.vfm = MODELS.build(vfm) if vfm is not None else None
        self._cast_dtype: Optional[torch.dtype] = None

    # ------------------------------------------------------------------ loading
    @staticmethod
    def _load(name: str, pretrained: Optional[str], checkpoint: Optional[str], download: bool
              ) -> Tuple[nn.Module, str]:
        if checkpoint is not None:
            path = Path(checkpoint).expanduser()
            if not path.is_file():
                raise CheckpointError(f'CLIP checkpoint {path} does not exist (checkpoint= in the config or '
                                      f'--checkpoint on the command line)')
            openai_rounding, quick_gelu = checkpoint_semantics(name, pretrained)
            model = build_clip_from_state_dict(load_state_dict(path), openai_rounding, quick_gelu)
            # the weights differ by loader: caches keyed by this id must not mix them
            suffix = '' if openai_rounding else ':exact' + ('' if quick_gelu else ':gelu')
            return model, f'file:{file_fingerprint(path)}{suffix}'
        if pretrained in (None, 'openai'):
            if normalize_openai_name(name) is None:
                from .checkpoint import openai_clip_urls
                raise CheckpointError(f'{name!r} is not an OpenAI CLIP release; choose one of '
                                      f'{", ".join(openai_clip_urls())}, or give pretrained=<open_clip tag> or '
                                      f'checkpoint=<file>')
            path = fetch_openai_checkpoint(name, download=download)
            return build_clip_from_state_dict(load_state_dict(path)), f'openai:{normalize_openai_name(name)}'
        import open_clip
        arch = name.replace('/', '-')
        if arch not in open_clip.list_models():
            raise CheckpointError(f'unknown open_clip architecture {name!r}; e.g. ViT-B-16, ViT-L-14, ViT-H-14')
        if (arch, pretrained) not in open_clip.list_pretrained():
            tags = sorted(t for a, t in open_clip.list_pretrained() if a == arch)
            raise CheckpointError(f'open_clip has no weights {pretrained!r} for {arch}; valid tags: {tags}')
        try:
            model = open_clip.create_model(arch, pretrained=pretrained, precision='fp32')
        except Exception as exc:  # download / hub errors come in many types
            raise CheckpointError(
                f'could not load open_clip weights {arch}/{pretrained} ({type(exc).__name__}: '
                f'{str(exc).splitlines()[0] if str(exc) else ""}). Offline, put them in the Hugging Face cache '
                f'(~/.cache/huggingface/hub, or HF_HOME) on a machine with internet access, or pass '
                f'checkpoint=<file in the OpenAI layout>.') from None
        return model.eval(), f'open_clip:{arch}:{pretrained}'

    # ------------------------------------------------------------------ properties
    @property
    def visual(self) -> nn.Module:
        return self.model.visual

    @property
    def patch_size(self) -> int:
        return self.visual.conv1.kernel_size[0]

    @property
    def num_blocks(self) -> int:
        return len(self.visual.transformer.resblocks)

    @property
    def device(self) -> torch.device:
        return self.visual.conv1.weight.device

    @property
    def dtype(self) -> torch.dtype:
        """Activation dtype of the encoders (fp16 on CUDA by default, fp32 on CPU)."""
        return resolve_precision(self.precision, self.device)

    @property
    def output_dtype(self) -> torch.dtype:
        """Dtype of the dense features and text embeddings the encoders return (:func:`output_dtype`)."""
        return output_dtype(self.dtype)

    def apply_precision(self) -> None:
        """Cast matmul weights to the activation dtype, keeping LayerNorm weights and embeddings in fp32 (as OpenAI).

        fp16 LayerNorms compute in fp32 and cast back (``LayerNormFp32``), as OpenAI's do. bf16 ones stay native:
        PyTorch's CPU LayerNorm takes bf16 input with fp32 weights and accumulates in fp32 already, and the two
        casts of ``LayerNormFp32`` cost about what the bf16 matmuls save. In bf16 the patch embedding stays fp32
        (a few percent of the work; rounding the image itself to bf16 changes labels), and the vision blocks run
        fused (:mod:`.bf16_blocks`: oneDNN linears with bias, activation and residual add, fused attention).
        """
        dtype = self.dtype
        if self._cast_dtype == dtype:
            return
        from open_clip.model import convert_weights_to_lp
        from open_clip.transformer import LayerNorm, LayerNormFp32

        from .bf16_blocks import use_fused_blocks
        self.model.float()
        for module in self.model.modules():  # undo an earlier fp16 cast's LayerNormFp32 (precision changed)
            if type(module) is LayerNormFp32:
                module.__class__ = LayerNorm
        blocks = getattr(getattr(self.visual, 'transformer', None), 'resblocks', ())
        use_fused_blocks(blocks, dtype == torch.bfloat16)  # on fp32 weights, before rounding
        if dtype != torch.float32:
            convert_weights_to_lp(self.model, dtype)
        if dtype == torch.float16:
            for module in self.model.modules():
                if type(module) in (nn.LayerNorm, LayerNorm):
                    module.__class__ = LayerNormFp32
        if dtype == torch.bfloat16 and hasattr(self.visual, 'conv1'):
            self.visual.conv1.float()
        self._cast_dtype = dtype
        if self.vfm is not None and hasattr(self.vfm, 'apply_precision'):
            self.vfm.apply_precision(dtype)

    # ------------------------------------------------------------------ vision
    def embed(self, image: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch embedding + CLS + interpolated positional embedding + ln_pre: (B, 3, H, W) -> (B, 1+h*w, D)."""
        visual = self.visual
        x = visual.conv1(image.to(visual.conv1.weight.dtype))
        grid = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)  # (B, h*w, D), row-major
        cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1)
        x = x + interpolate_pos_embed(visual.positional_embedding, grid).to(x.dtype)
        return visual.ln_pre(x).to(self.dtype), grid  # bf16: the patch embedding ran in fp32

    @staged('clip.encode_dense')
    def encode_dense(self, image: torch.Tensor, final_attn: Optional[FinalAttention] = None, text: Any = None,
                     regions: Any = None, extras: Optional[Dict[str, torch.Tensor]] = None, project: bool = True
                     ) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Dense patch embeddings (B, h'*w', E), not normalised, and their grid (h', w').

        All blocks but the last run unchanged, except those the variant takes over (``recording().run_blocks``,
        run through its ``run_block``); the last one runs ``final_attn`` (default: the configured variant).
        What the variant reads (earlier blocks' outputs, q/k/v or attention maps, VFM features, the class
        embeddings ``text``, region masks ``regions``) is recorded in this same pass, as its ``recording()`` asks.
        When ``extras`` is a dict, it receives the variant's per-image outputs besides the tokens
        (``AttnContext.extras``, e.g. 'cls' (B, E)). ``project=False`` returns the last block's tokens (B, h'*w', D)
        before ``ln_post`` and the projection (Trident mixes them first).
        """
        final_attn = final_attn or self.final_attn
        x, ctx = self.encode_to_last(image, final_attn, text, regions)
        tokens, out_grid = final_attn(self.visual.transformer.resblocks[-1], x, ctx)
        if extras is not None:
            extras.update(ctx.extras)
        if not project:
            return tokens, out_grid
        return self.project(tokens, final_attn), out_grid

    def encode_to_last(self, image: torch.Tensor, final_attn: Optional[FinalAttention] = None, text: Any = None,
                       regions: Any = None, vfm: bool = True) -> Tuple[torch.Tensor, AttnContext]:
        """The last block's input (B, T, D) and the context the variant reads (what its ``recording()`` asks for;
        the VFM features of these images when ``vfm``): every block but the last, as :meth:`encode_dense` runs
        them. The stitched inference (``models/inference/stitched.py``) calls it per batch of windows."""
        self.apply_precision()
        final_attn = final_attn or self.final_attn
        x, grid = self.embed(image)
        blocks = self.visual.transformer.resblocks
        wants = final_attn.recording(len(blocks))
        ctx = AttnContext(grid=grid, blocks=blocks, visual=self.visual, image=image,
                          text=text if wants.text else None, regions=regions)
        ctx.embedded = x
        if vfm and self.vfm is not None:
            ctx.vfm_feats = self.vfm(image)
        hidden = {i % len(blocks) for i in wants.hidden}
        qkv = {i % len(blocks) for i in (*wants.qkv, *wants.attn)}
        attn = {i % len(blocks) for i in wants.attn}
        own = {i % len(blocks) for i in wants.run_blocks}
        for i, block in enumerate(blocks[:-1]):
            if i in own:
                x = final_attn.run_block(i, block, x, ctx)
            elif i in qkv:
                x, ctx.records[i] = run_block_recorded(block, x, with_attn=i in attn)
            else:
                x = block(x)
            if i in hidden:
                ctx.hidden[i] = x
        return x, ctx

    def project(self, tokens: torch.Tensor, final_attn: Optional[FinalAttention] = None) -> torch.Tensor:
        """Last-block tokens (B, N, D) -> dense embeddings (B, N, E): ``ln_post`` (unless the variant applied it)
        and the projection, in the output dtype."""
        if not (final_attn or self.final_attn).applies_ln_post:
            tokens = self.visual.ln_post(tokens)
        out = self.output_dtype
        return tokens.to(out) @ self.visual.proj.to(out)

    # ------------------------------------------------------------------ text
    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Text embeddings (N, E) of token ids (N, L), L <= context length.

        The causal mask makes the end-of-text feature independent of the padding after it, so ``L`` may be any
        length that holds every prompt's end-of-text token; the result equals the full-context encoding.
        """
        self.apply_precision()
        model = self.model
        if not hasattr(model, 'token_embedding'):  # open_clip CustomTextCLIP: its own text tower, full context
            return model.encode_text(tokens)
        length = tokens.shape[1]
        cast = model.transformer.get_cast_dtype()
        x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:length].to(cast)
        x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
        x = model.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
        return x.to(self.output_dtype) @ model.text_projection.to(self.output_dtype)

    @property
    def context_length(self) -> int:
        return int(getattr(self.model, 'context_length', 77))

    def tokenizer(self):
        """The BPE tokenizer matching the weights (OpenAI's for OpenAI releases and OpenAI-layout files)."""
        import open_clip
        if self.checkpoint_id.startswith('open_clip:'):
            return open_clip.get_tokenizer(self.checkpoint_id.split(':')[1])
        return open_clip.tokenizer.SimpleTokenizer(context_length=self.context_length)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.encode_dense(image)[0]
