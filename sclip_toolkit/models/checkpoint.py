"""Finding and reading CLIP checkpoints: OpenAI names (download + SHA-256), local files, open_clip tags; building
open_clip's CLIP from an OpenAI-layout state dict.

Checkpoints are read without executing pickled code: plain state dicts go through ``torch.load(weights_only=True)``
(memory-mapped when the file is in torch.save's zip format, so nothing is read before the model copies it) and
TorchScript archives (the OpenAI release format) through ``torch.jit.load``, which reads the archive with
TorchScript's own restricted unpickler.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn

from ..exceptions import ToolkitError


def openai_clip_urls() -> Dict[str, str]:
    """OpenAI CLIP releases (open_clip name, e.g. 'ViT-B-16' -> URL), read from open_clip's weight registry.

    The URL's second-to-last path component is the file's published SHA-256.
    """
    import open_clip
    urls = {}
    for model in open_clip.list_pretrained_models_by_tag('openai'):
        url = open_clip.get_pretrained_cfg(model, 'openai').get('url', '')
        if url and not model.startswith('RN'):  # the ResNet releases have no patch tokens to segment
            urls[model] = url
    return urls


class CheckpointError(ToolkitError, RuntimeError):
    """A checkpoint is missing, unreadable, or not what the configuration expects."""


def default_cache_dir() -> Path:
    """Where OpenAI checkpoints are cached: ``$SCLIP_CLIP_CACHE`` or OpenAI's usual ``~/.cache/clip``."""
    return Path(os.environ.get('SCLIP_CLIP_CACHE', Path.home() / '.cache' / 'clip'))


def normalize_openai_name(name: str) -> Optional[str]:
    """Map 'ViT-B/16', 'vit-b-16', ... to open_clip's name of an OpenAI release ('ViT-B-16'), or None."""
    key = name.replace('/', '-').lower()
    for official in openai_clip_urls():
        if official.lower() == key:
            return official
    return None


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as fh:
        for block in iter(lambda: fh.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def file_fingerprint(path: Path, chunk: int = 1 << 20) -> str:
    """A cheap identity of a weights file: SHA-256 of its size, first and last MiB (not its path or date)."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, 'rb') as fh:
        digest.update(fh.read(chunk))
        fh.seek(max(0, size - chunk))
        digest.update(fh.read(chunk))
    return digest.hexdigest()[:24]


def fetch_openai_checkpoint(name: str, cache_dir: Optional[Path] = None, download: bool = True) -> Path:
    """Return the local path of an OpenAI CLIP release, downloading it (SHA-256 checked) if needed.

    Raises:
        CheckpointError: offline and not cached (says where it looked and how to provide the file), or the file
            on disk does not match its published checksum.
    """
    official = normalize_openai_name(name)
    if official is None:
        raise CheckpointError(f'{name!r} is not an OpenAI CLIP release; known: {", ".join(openai_clip_urls())}')
    url = openai_clip_urls()[official]
    expected = url.split('/')[-2]
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    target = cache / os.path.basename(url)
    if target.is_file():
        if sha256_of(target) == expected:
            return target
        raise CheckpointError(
            f'{target} does not match the published SHA-256 of {official} ({expected}); it is probably a partial '
            f'download. Delete it and run again, or copy a complete file there.')
    how = (f'Download {url} on a machine with internet access and copy it to {target} '
           f'(or set SCLIP_CLIP_CACHE to the folder holding {target.name}), or pass a local file with '
           f'checkpoint=/path/to/{target.name}.')
    if not download:
        raise CheckpointError(f'CLIP weights {official!r} not found at {target}. {how}')
    return download_file(url, target, f'CLIP weights {official!r}', how, sha256=expected)


def download_file(url: str, target: Path, what: str, how: str, sha256: Optional[str] = None) -> Path:
    """Download ``url`` to ``target`` through a per-process partial file renamed into place when complete.

    Raises:
        CheckpointError: the download failed (the message says ``what`` was missing and ``how`` to provide it),
            or the file does not match ``sha256``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f'{target.name}.part{os.getpid()}')
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(partial, 'wb') as out:
            while block := response.read(1 << 20):
                out.write(block)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        partial.unlink(missing_ok=True)
        raise CheckpointError(f'{what} are not in {target} and could not be downloaded ({exc}). {how}') from None
    if sha256 is not None and sha256_of(partial) != sha256:
        partial.unlink(missing_ok=True)
        raise CheckpointError(f'the download of {url} does not match its SHA-256 {sha256}')
    os.replace(partial, target)
    return target


def is_torchscript_archive(path: Path) -> bool:
    """True for a TorchScript zip archive (it has a ``code/`` folder); plain ``torch.save`` zips do not."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any('/code/' in n or n.startswith('code/') for n in zf.namelist())


def load_state_dict(path: str | os.PathLike) -> Dict[str, torch.Tensor]:
    """Read a state dict from a checkpoint file without running pickled code.

    Accepts a plain state dict, a dict wrapping one under 'state_dict' / 'model' / 'module', or a TorchScript
    archive. Keys prefixed with 'module.' (DataParallel) are unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'checkpoint file {path} does not exist')
    try:
        if is_torchscript_archive(path):
            state = torch.jit.load(str(path), map_location='cpu').state_dict()
        else:  # torch.save's zip format can be mapped; the legacy format (torch < 1.6) cannot
            state = torch.load(str(path), map_location='cpu', weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as exc:  # torch raises many types for corrupt / truncated / unsafe files
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if 'weights_only' in str(exc) or 'Unsupported global' in str(exc):
            raise CheckpointError(
                f'{path} contains pickled Python objects other than tensors, which are not loaded for safety '
                f'({msg}). Re-save it as a plain state dict: torch.save(model.state_dict(), path).') from None
        raise CheckpointError(f'could not read checkpoint {path}: it is truncated, corrupt or not a PyTorch '
                              f'checkpoint ({type(exc).__name__}: {msg})') from None
    for key in ('state_dict', 'model', 'module'):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f'{path} does not hold a state dict of tensors')
    if all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    return state


def build_clip_from_state_dict(state: Dict[str, torch.Tensor], openai_rounding: bool = True,
                               quick_gelu: bool = True) -> nn.Module:
    """Build open_clip's CLIP from an OpenAI-layout state dict (the architecture read from its shapes), in fp32.

    The model is built on the meta device and the weights are assigned, so no random initialisation is computed and
    no tensor is copied twice (a warm start's largest cost otherwise).

    Args:
        state: the state dict.
        openai_rounding: True: the weights OpenAI's loader gives (open_clip's ``load_openai_model``:
            ``build_model_from_openai_state_dict``, then ``.float()``): the tensors that loader stores in fp16 are
            rounded to fp16 and back, the others are exact. False: every tensor exact, as open_clip's
            ``load_checkpoint`` copies a file into an fp32 model (how open_clip tags such as MetaCLIP load).
        quick_gelu: QuickGELU activations (OpenAI's); False: GELU (most open_clip architectures).
    """
    from open_clip.model import build_model_from_openai_state_dict

    required = ('visual.conv1.weight', 'visual.positional_embedding', 'visual.proj', 'text_projection',
                'token_embedding.weight', 'ln_final.weight')
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(f'not a CLIP ViT checkpoint in the OpenAI layout: missing {missing[:4]} '
                              f'(it has {len(state)} tensors, e.g. {list(state)[:3]})')
    try:
        with torch.device('meta'):  # open_clip reads the architecture from the shapes and checks every key
            model = build_model_from_openai_state_dict({k: v.to('meta') for k, v in state.items()},
                                                       quick_gelu=quick_gelu, cast_dtype=None)
    except RuntimeError as exc:
        raise CheckpointError(f'the checkpoint\'s tensors do not fit a CLIP ViT: {str(exc).splitlines()[0]}') from None
    # The meta model's dtypes say which tensors open_clip's loader rounds to fp16 (convert_weights_to_fp16).
    targets = model.state_dict(keep_vars=True)
    dtypes = {key: t.dtype if openai_rounding else torch.float32 for key, t in targets.items()}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread per tensor, tensors in parallel: intra-op threads mostly wait on page faults
    try:
        with ThreadPoolExecutor(max(1, threads)) as pool:
            values = list(pool.map(lambda key: _as_loaded(state[key], dtypes[key]), targets))
    finally:
        torch.set_num_threads(threads)
    model.load_state_dict(dict(zip(targets, values)), assign=True)
    _rebuild_buffers(model)
    return model.eval()


def _as_loaded(value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``value`` as copying it into a ``dtype`` parameter and casting that to fp32 gives, in memory of its own (a
    memory-mapped checkpoint's pages must not back the model: the file may be rewritten while the model lives)."""
    out = value.to(dtype).float()
    return out.clone() if out.untyped_storage().data_ptr() == value.untyped_storage().data_ptr() else out


def _rebuild_buffers(model: nn.Module) -> None:
    """Compute the buffers that are not in a state dict (the text tower's causal mask) on a meta-built CLIP."""
    mask = getattr(model, 'attn_mask', None)
    if isinstance(mask, torch.Tensor) and mask.is_meta:
        n = mask.shape[0]  # additive causal mask: 0 on and below the diagonal, -inf above (as open_clip builds it)
        model.attn_mask = torch.full((n, n), float('-inf')).triu_(1)
    left = [name for name, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if left:
        raise RuntimeError(f'CLIP tensors without values after loading: {left[:4]}')


def checkpoint_semantics(name: str, pretrained: Optional[str]) -> Tuple[bool, bool]:
    """How a checkpoint file is loaded for a configured model: (fp16 rounding, QuickGELU).

    The file stands in for the weights the config names, so it is read as their loader reads them: OpenAI releases
    (``pretrained='openai'`` or None) as OpenAI's loader (fp16-rounded, QuickGELU); open_clip tags (e.g. CorrCLIP's
    ``'metaclip_fullcc'``) as open_clip's ``load_checkpoint`` (exact), with the activation of open_clip's
    architecture ``name`` (QuickGELU when open_clip does not know the name: the OpenAI layout's own).
    """
    if pretrained in (None, 'openai'):
        return True, True
    import open_clip
    arch_cfg = open_clip.get_model_config(name.replace('/', '-'))
    return False, bool(arch_cfg.get('quick_gelu', False)) if arch_cfg is not None else True
