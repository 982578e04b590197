"""Which methods can run with the weights at hand, in the page's words, and which one the page ticks first.

A method is ready when every file it loads is here: the CLIP weights (shared by all), the vision foundation model
(ProxyCLIP, CorrCLIP: DINO), the region masks' generator (CorrCLIP: SAM 2 with the ``sam2`` package, or a
folder of precomputed masks) and SAM (Trident). Nothing is loaded or downloaded to find out.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

# Best first: mean published mIoU over the eight standard benchmarks with ViT-B/16 (README, "Published results";
# CorrCLIP 51.0 with MetaCLIP, OV-Stitcher 50.7, Trident 45.8, RF-CLIP 44.2; ProxyCLIP and ClearCLIP from the tables
# they appear in), then the baselines.
PREFERENCE = ('corrclip', 'ovstitcher', 'trident', 'rfclip', 'scclip', 'proxyclip', 'naclip', 'resclip', 'clearclip',
              'sclip', 'maskclip', 'vanilla')


def _where(path: Path, show_paths: bool) -> str:
    return str(path.parent) if show_paths else "the server's weights folder"


def _clip_reason(clip, show_paths: bool) -> Optional[str]:
    from ..models.checkpoint import default_cache_dir, normalize_openai_name, openai_clip_urls

    if clip.get('checkpoint'):
        path = Path(clip.checkpoint).expanduser()
        return None if path.is_file() else f'its CLIP weights file {path.name} is missing'
    pretrained = clip.get('pretrained') or 'openai'
    if pretrained != 'openai':
        try:
            import open_clip
            from huggingface_hub import try_to_load_from_cache
            cfg = open_clip.get_pretrained_cfg(clip.name, pretrained)
            repo = cfg.get('hf_hub', '').rstrip('/')
            if repo and isinstance(try_to_load_from_cache(repo, 'open_clip_pytorch_model.bin'), str):
                return None
            if repo and isinstance(try_to_load_from_cache(repo, 'open_clip_model.safetensors'), str):
                return None
        except Exception:  # no registry entry or no cache API: say it is missing
            pass
        return f'it needs the {clip.name} ({pretrained}) CLIP weights, which this server does not have'
    official = normalize_openai_name(clip.name)
    if official is None:
        return f'{clip.name} is not a CLIP release this server knows'
    target = default_cache_dir() / Path(openai_clip_urls()[official]).name
    if target.is_file():
        return None
    return f'it needs the CLIP {clip.name} weights ({target.name}) in {_where(target, show_paths)}'


def _vfm_reason(vfm, show_paths: bool) -> Optional[str]:
    from ..models.vfm import DEFAULT_PATCH
    from ..models.vfm.weights import official_url, weights_cache_dir

    family = vfm.get('family', 'dino')
    if vfm.get('checkpoint'):
        path = Path(vfm.checkpoint).expanduser()
        return None if path.is_file() else f'its {family.upper()} weights file {path.name} is missing'
    arch = vfm.get('arch', 'vit_base')
    patch = vfm.get('patch_size') or (14 if (family, arch) == ('mae', 'vit_huge') else DEFAULT_PATCH[family])
    registers = vfm.get('registers')
    registers = (4 if family == 'dinov2' else 0) if registers is None else registers
    target = weights_cache_dir() / official_url(family, arch, patch, registers).rsplit('/', 1)[-1]
    if target.is_file():
        return None
    return f'it needs the {family.upper()} weights ({target.name}) in {_where(target, show_paths)}'


def _regions_reason(regions, show_paths: bool) -> Optional[str]:
    kind = regions.get('type')
    if kind == 'PrecomputedMasks':
        folder = Path(str(regions.get('folder', ''))).expanduser()
        return None if folder.is_dir() else f'its folder of region masks {folder.name} is missing'
    if kind != 'SAM2Masks':
        return None
    try:
        import sam2  # noqa: F401
    except ImportError:
        return 'it needs SAM 2 (the sam2 package is not installed on this server) or a folder of region masks'
    from ..models.checkpoint import CheckpointError
    from ..models.regions.sam2 import SAM2Masks
    try:
        SAM2Masks(**{k: v for k, v in regions.items() if k != 'type'}, download=False).weights_path()
    except CheckpointError:
        import torch
        hub = Path(torch.hub.get_dir()) / 'checkpoints'
        return (f"it needs the SAM 2 {regions.get('size', 'large')} weights in {_where(hub / 'x', show_paths)}, or a "
                f'folder of region masks')
    return None


def _sam_reason(cfg, show_paths: bool) -> Optional[str]:
    from ..config.sam import sam_parts
    from ..models.checkpoint import CheckpointError
    from ..models.vfm.sam_model import sam_weights_path

    for part in sam_parts(cfg):
        if part['type'] == 'SAMRefinement' and not part.get('enabled', True):
            continue  # a disabled refinement loads nothing
        try:
            sam_weights_path(part.get('model_type', 'vit_b'), part.get('checkpoint'), download=False)
        except CheckpointError:
            if part.get('checkpoint'):
                return f'its SAM weights file {Path(part["checkpoint"]).name} is missing'
            import torch
            hub = Path(torch.hub.get_dir()) / 'checkpoints'
            return f"it needs the SAM {part.get('model_type', 'vit_b')} weights in {_where(hub / 'x', show_paths)}"
    return None


def method_readiness(methods: Sequence[str], options, show_paths: bool = False) -> Dict[str, Optional[str]]:
    """Per method, None when it can run, else a short reason a page user understands (which weights, where)."""
    from ..apis import method_config, uses_sam
    from .model_cache import weight_options

    out: Dict[str, Optional[str]] = {}
    for method in methods:
        try:
            cfg = method_config(method, options.backbone, options.checkpoint, pretrained=options.pretrained,
                                download=False, cfg_options=options.cfg_options, **weight_options(method, options))
        except Exception as exc:  # a config that does not build with this server's options
            out[method] = f'it cannot be set up on this server ({type(exc).__name__})'
            continue
        clip = cfg.model.clip
        reason = _clip_reason(clip, show_paths)
        if reason is None and clip.get('vfm') is not None:
            reason = _vfm_reason(clip.vfm, show_paths)
        if reason is None and cfg.model.get('region_generator') is not None:
            reason = _regions_reason(cfg.model.region_generator, show_paths)
        if reason is None and uses_sam(cfg):
            reason = _sam_reason(cfg, show_paths)
        if reason is not None and options.download and 'not installed' not in reason and 'missing' not in reason:
            reason = None  # official weights: fetched on the first run
        out[method] = reason
    return out


def default_method(methods: Sequence[str], readiness: Dict[str, Optional[str]]) -> Optional[str]:
    """The best-scoring method that can run (see :data:`PREFERENCE`); methods not ranked come after the ranked."""
    ranked: List[str] = sorted(methods, key=lambda m: (PREFERENCE.index(m) if m in PREFERENCE else len(PREFERENCE),
                                                       m))
    return next((m for m in ranked if readiness.get(m) is None), None)
