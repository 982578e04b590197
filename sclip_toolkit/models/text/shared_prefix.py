"""Text classifier that encodes each template's prefix once and only the name and suffix per prompt.

Under CLIP's causal mask the hidden states of the tokens before the class name ("<sot> a bad photo of a") do not
depend on the name. So each template's prefix runs through the text tower once, with every layer's keys and values
kept; each (name, template) prompt then runs only its own tokens (name, suffix, end-of-text), attending to the
cached prefix keys/values and causally to itself. This is the same computation as encoding the whole prompt, so
the embeddings agree with :func:`~sclip_toolkit.models.text.build_text_classifier` within float rounding, at a
fraction of the tokens (for 80 templates, about 4 tokens a prompt instead of 10-20, or 77 as the references do).

A prompt is encoded this way only when its full tokenization starts with its template's prefix tokens (BPE could
merge a name with the text before it, e.g. in "a photo of a{}"); other prompts, and text towers that are not the
plain causal open_clip/OpenAI transformer, go through the existing length-grouped path.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .prompts import encode_prompts

# Tokens per forward pass of the shared-prefix path: its prompts are a few tokens each, so batching by prompt count
# would give matmuls too small to run at full speed on CPUs (about 1k-4k rows is the sweet spot).
TOKENS_PER_PASS = 4096


@dataclass
class PromptPlan:
    """How each (name, template) prompt is encoded; prompts are ordered name-major (name i, template j at i*T+j).

    Attributes:
        tokens: (N, C) full-prompt token ids, as the tokenizer gives them.
        template: (N,) template index of each prompt.
        prefix_tokens: (T, P) token ids of each template's prefix (start-of-text included), right-padded.
        prefix_len: (T,) number of prefix tokens of each template.
        shared: (N,) True where the prompt's tokens start with its template's prefix tokens (it reuses the cache).
        end: (N,) position of each prompt's end-of-text token.
    """

    tokens: torch.Tensor
    template: torch.Tensor
    prefix_tokens: torch.Tensor
    prefix_len: torch.Tensor
    shared: torch.Tensor
    end: torch.Tensor

    def to(self, device: torch.device) -> 'PromptPlan':
        return PromptPlan(*(getattr(self, f.name).to(device) for f in fields(self)))

    def token_counts(self) -> Tuple[int, int, int]:
        """Tokens run by (every prompt at full context, every prompt at its own length, this plan)."""
        n, context = self.tokens.shape
        own = int((self.end + 1).sum())
        rest = (self.end + 1 - self.prefix_len[self.template])[self.shared]
        fallback = (self.end + 1)[~self.shared]
        return n * context, own, int(self.prefix_len.sum() + rest.sum() + fallback.sum())


def plan_prompts(tokenizer, names: Sequence[str], templates: Sequence[str]) -> PromptPlan:
    """Tokenize every prompt and each template's prefix (the text before its first '{}') and match them up."""
    prompts = [t.replace('{}', n) for n in names for t in templates]
    tokens = tokenizer(prompts)
    prefix_full = tokenizer([t.split('{}', 1)[0] for t in templates])
    prefix_len = prefix_full.argmax(dim=-1)  # end-of-text (the largest id) sits right after the prefix
    width = max(int(prefix_len.max()), 1)
    prefix_tokens = prefix_full[:, :width].clone()
    prefix_tokens[torch.arange(width) >= prefix_len[:, None]] = 0
    template = torch.arange(len(templates)).repeat(len(names))
    end = tokens.argmax(dim=-1)
    n_len = prefix_len[template]
    in_prefix = torch.arange(width) < n_len[:, None]  # (N, P)
    same = ((tokens[:, :width] == prefix_tokens[template]) | ~in_prefix).all(dim=1)
    shared = same & (end >= n_len)  # the prompt keeps at least its end-of-text token after the prefix
    return PromptPlan(tokens, template, prefix_tokens, prefix_len, shared, end)


def supports_prefix_cache(model: nn.Module) -> bool:
    """True when ``model`` is open_clip's CLIP with the plain causal text transformer this module re-runs."""
    if not hasattr(model, 'token_embedding') or getattr(model, 'attn_mask', None) is None:
        return False  # CustomTextCLIP (own text tower) or a text tower without the causal mask
    if getattr(model, 'text_pool_type', 'argmax') != 'argmax':
        return False
    for block in model.transformer.resblocks:
        attn = getattr(block, 'attn', None)
        if (not isinstance(attn, nn.MultiheadAttention) or not attn._qkv_same_embed_dim or attn.bias_k is not None
                or attn.add_zero_attn or hasattr(block, 'ln_1_kv')
                or not all(hasattr(block, m) for m in ('ln_1', 'ln_2', 'mlp', 'ls_1', 'ls_2'))):
            return False
    return True


def _run_block(block: nn.Module, x: torch.Tensor, past: Optional[Tuple[torch.Tensor, torch.Tensor]],
               mask: torch.Tensor, keep: Optional[torch.Tensor] = None
               ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One residual attention block on new tokens that also attend to cached keys/values.

    Args:
        block: open_clip ``ResidualAttentionBlock`` (nn.MultiheadAttention weights, optional layer scale).
        x: (B, R, D) hidden states of the new tokens.
        past: cached (B, H, P, d) keys and values of the tokens before them, or None.
        mask: (B or 1, 1, R, P + R) boolean, True where a query may attend to a key.
        keep: (B,) index of the one new token whose output is wanted (in the final block only end-of-text is
            read), or None for all.

    Returns:
        (B, R, D) new hidden states ((B, 1, D) with ``keep``), and this block's (B, H, R, d) keys and values.
    """
    attn = block.attn
    b, r, dim = x.shape
    heads = attn.num_heads
    q, k, v = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.reshape(b, r, heads, dim // heads).transpose(1, 2) for t in (q, k, v))  # (B, H, R, d)
    keys, values = (k, v) if past is None else (torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2))
    if keep is not None:
        rows = torch.arange(b, device=x.device)
        x, q, mask = x[rows, keep, None], q[rows, :, keep, None], mask[rows, :, keep, None]
    out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)  # (B, H, R, d)
    out = F.linear(out.transpose(1, 2).reshape(x.shape), attn.out_proj.weight, attn.out_proj.bias)
    x = x + block.ls_1(out)
    x = x + block.ls_2(block.mlp(block.ln_2(x)))
    return x, k, v


def _embed(model: nn.Module, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Token + positional embedding in the transformer's dtype: (B, R) ids at (B, R) positions -> (B, R, D)."""
    cast = model.transformer.get_cast_dtype()
    return model.token_embedding(tokens).to(cast) + model.positional_embedding[positions].to(cast)


def _project(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """ln_final and the text projection of end-of-text states: (B, D) -> (B, E)."""
    x = model.ln_final(x)
    proj = model.text_projection
    if proj is None:
        return x
    return proj(x) if isinstance(proj, nn.Linear) else x @ proj.to(x.dtype)


def _prefix_cache(model: nn.Module, plan: PromptPlan, device: torch.device) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """Every block's (T, H, P, d) keys and values of the template prefixes (positions past a prefix are unused)."""
    tokens = plan.prefix_tokens
    width = tokens.shape[1]
    positions = torch.arange(width, device=device).expand_as(tokens)
    mask = torch.ones(width, width, dtype=torch.bool, device=device).tril()[None, None]
    x = _embed(model, tokens, positions)
    cache = []
    for block in model.transformer.resblocks:
        x, k, v = _run_block(block, x, None, mask)
        cache.append((k, v))
    return cache


def _encode_rest(model: nn.Module, plan: PromptPlan, cache: List[Tuple[torch.Tensor, torch.Tensor]],
                 index: torch.Tensor, device: torch.device) -> torch.Tensor:
    """(B, E) embeddings of the shared prompts ``index``: their tokens after the prefix, right-padded.

    ``plan`` and ``index`` are on ``device``.

    Under the causal mask no real token sees the padding, and only each prompt's end-of-text output is read.
    """
    template = plan.template[index]
    start = plan.prefix_len[template]  # (B,)
    rest_len = plan.end[index] + 1 - start  # (B,), end-of-text is the last token of each
    width, context = plan.prefix_tokens.shape[1], plan.tokens.shape[1]
    offsets = torch.arange(int(rest_len.max()), device=device)
    positions = (start[:, None] + offsets).clamp(max=context - 1)  # (B, R); padding repeats the last position
    tokens = plan.tokens[index[:, None], positions]
    prefix_ok = torch.arange(width, device=device) < start[:, None]  # (B, P)
    causal = torch.ones(len(offsets), len(offsets), dtype=torch.bool, device=device).tril()  # (R, R)
    mask = torch.cat([prefix_ok[:, None, :].expand(-1, len(offsets), -1), causal.expand(len(index), -1, -1)],
                     dim=-1)[:, None]  # (B, 1, R, P + R)
    x = _embed(model, tokens, positions)
    blocks = model.transformer.resblocks
    for i, block in enumerate(blocks):
        past = (cache[i][0][template], cache[i][1][template])
        x, _, _ = _run_block(block, x, past, mask, keep=rest_len - 1 if i == len(blocks) - 1 else None)
    return _project(model, x[:, 0])


@torch.no_grad()
def encode_plan(clip, plan: PromptPlan, batch_size: int = 256) -> torch.Tensor:
    """(N, E) text embeddings of every prompt of ``plan``, not normalised.

    Shared prompts, sorted by how many tokens follow their prefix, run about ``TOKENS_PER_PASS`` tokens (padding
    included) at a time against the prefix cache; the others go through
    :func:`~sclip_toolkit.models.text.encode_prompts`, ``batch_size`` prompts at a time.
    """
    clip.apply_precision()
    model, device = clip.model, clip.device
    out: Optional[torch.Tensor] = None
    rest_len = plan.end + 1 - plan.prefix_len[plan.template]
    shared = plan.shared.nonzero().flatten()
    if len(shared):
        on_device = plan.to(device)
        cache = _prefix_cache(model, on_device, device)
        order = shared[torch.argsort(rest_len[shared], stable=True)]
        lengths = rest_len[order].tolist()
        first = 0
        while first < len(order):
            last = first + 1  # grow the batch while its padded size fits (lengths ascend: the last is the longest)
            while last < len(order) and (last + 1 - first) * lengths[last] <= TOKENS_PER_PASS:
                last += 1
            sel = order[first:last]
            first = last
            emb = _encode_rest(model, on_device, cache, sel.to(device), device)
            if out is None:
                out = emb.new_empty((len(plan.tokens), emb.shape[1]))
            out[sel.to(out.device)] = emb
    fallback = (~plan.shared).nonzero().flatten()
    if len(fallback):
        emb = encode_prompts(clip, plan.tokens[fallback], batch_size)
        if out is None:
            out = emb.new_empty((len(plan.tokens), emb.shape[1]))
        out[fallback.to(out.device)] = emb.to(out.dtype)
    return out


@torch.no_grad()
def build_text_classifier_shared_prefix(clip, names: Sequence[str], templates: Sequence[str],
                                        batch_size: int = 256) -> torch.Tensor:
    """(Q, E) unit-norm class-name embeddings: mean over templates of unit-norm prompt embeddings, renormalised.

    Same contract and result (within float rounding) as :func:`~sclip_toolkit.models.text.build_text_classifier`;
    each template's prefix is encoded once (see the module docstring).

    Args:
        clip: a ``CLIPBackbone`` (``model``, ``tokenizer()``, ``device``, ``apply_precision()``, ``encode_text``).
        names: Q class names.
        templates: T prompt templates, each with a '{}'.
        batch_size: prompts per forward pass for prompts encoded whole (see :func:`encode_plan`).
    """
    from .prompts import build_text_classifier

    if not supports_prefix_cache(clip.model):
        return build_text_classifier(clip, names, templates, batch_size)
    plan = plan_prompts(clip.tokenizer(), names, templates)
    emb = encode_plan(clip, plan, batch_size)
    emb = emb / emb.norm(dim=-1, keepdim=True)
    emb = emb.view(len(names), len(templates), -1).mean(dim=1)
    return emb / emb.norm(dim=-1, keepdim=True)
