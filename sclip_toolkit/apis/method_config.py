"""The config the API builds for a method: its base config (or a given one), the backbone and weights, and the
free-form settings (no background class, the vocabulary's separators, scores kept per call)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import torch
from mmengine.config import Config

from ..config import apply_overrides, load_config
from ..config.sam import apply_sam_options, sam_parts
from ..exceptions import ConfigError, SegmenterError
from ..methods import method_base


def method_config(method: str = 'sclip', backbone: Optional[str] = None, checkpoint: Optional[str] = None,
                  vfm_checkpoint: Optional[str] = None, pretrained: Optional[str] = None, download: bool = True,
                  config: Optional[str] = None, cfg_options: Optional[dict] = None,
                  sam_checkpoint: Optional[str] = None, sam_refine: bool = False) -> Config:
    """The config the API builds: a method base (or ``config``) with the backbone and free-form settings.

    Args:
        method: see :func:`available_methods`; ignored when ``config`` is given.
        backbone: OpenAI release ('ViT-B/16', 'ViT-L/14', ...), an open_clip architecture when ``pretrained`` is an
            open_clip tag, or a checkpoint file (then the same as ``checkpoint=``); None: the config's (OpenAI
            ViT-B/16 in every method base but CorrCLIP's, which uses MetaCLIP ViT-B/16 through open_clip). A
            backbone-specific base (``vitl14/<method>.py``) is used when one exists: SC-CLIP's layer indices depend
            on the depth.
        checkpoint: CLIP checkpoint file in the OpenAI layout; its architecture is read from the tensors, so pass
            the matching ``backbone`` name too when the method's settings depend on it (SC-CLIP with ViT-L/14).
        vfm_checkpoint: the vision foundation model's checkpoint (ProxyCLIP).
        pretrained: 'openai', or an open_clip pretrained tag; None: the config's ('openai'; CorrCLIP:
            'metaclip_fullcc').
        download: fetch missing official weights when online.
        config: any config file or name ('sclip_voc21') to use instead of the method base; its thresholds stay.
        cfg_options: further overrides, as ``--cfg-options`` (dotted keys).
        sam_checkpoint / sam_refine: SAM's weights file and Trident's SAM refinement step (methods that use SAM
            only; ``--sam-checkpoint`` / ``--sam-refine``).
    """
    backbone, checkpoint = split_backbone(backbone, checkpoint)
    if config is None:
        try:
            path = method_base(method.lower(), backbone)
        except ConfigError as exc:
            raise SegmenterError(str(exc)) from None
        cfg = _load(str(path), vfm_checkpoint, None)
        # A free-form vocabulary has no background class: no class 0 fallback, no area threshold (unless the
        # caller's own overrides below ask for them).
        cfg.model.post_process = [s for s in cfg.model.get('post_process', []) if not _uses_background(s)]
        try:
            apply_overrides(cfg, cfg_options)
        except ConfigError as exc:
            raise SegmenterError(str(exc)) from None
    else:
        cfg = _load(config, vfm_checkpoint, cfg_options)
    if sam_checkpoint or sam_refine:
        try:
            apply_sam_options(cfg, method if config is None else str(config), sam_checkpoint, sam_refine)
        except ConfigError as exc:
            raise SegmenterError(str(exc).replace('--sam-checkpoint', 'sam_checkpoint')
                                 .replace('--sam-refine', 'sam_refine')) from None
    clip = cfg.model.clip
    clip.download = download
    if backbone:
        clip.name = backbone
    if pretrained:
        clip.pretrained = pretrained
    if checkpoint is not None:
        clip.checkpoint = str(checkpoint)
    if clip.get('vfm') is not None:
        clip.vfm.download = download
    # Users write 'a, b' or 'a; b' for synonyms: split on ';' when present, else on ','.
    cfg.model.text_encoder.separator = None
    # The API decides per call whether scores are kept (Segmenter: return_scores, max_memory).
    cfg.model.keep_scores = None
    return cfg


def uses_sam(cfg: Config) -> bool:
    """Whether the config has a part that loads SAM weights (Trident), so ``sam_checkpoint`` applies to it."""
    return bool(sam_parts(cfg))


def applicable_options(cfg: Config, vfm_checkpoint: Optional[str] = None, sam_checkpoint: Optional[str] = None,
                       sam_refine: bool = False) -> dict:
    """The weight options of :func:`method_config` / ``Segmenter`` that apply to the method whose config (built
    without them) is ``cfg``: ``vfm_checkpoint`` when it uses a VFM, SAM's when it uses SAM (Trident). Entry points
    that run several methods give each the options it takes; one method given an option it cannot use is an error.
    """
    out = {}
    if vfm_checkpoint and cfg.model.clip.get('vfm') is not None:
        out['vfm_checkpoint'] = vfm_checkpoint
    if (sam_checkpoint or sam_refine) and uses_sam(cfg):
        out.update(sam_checkpoint=sam_checkpoint, sam_refine=sam_refine)
    return out


def _uses_background(step: dict) -> bool:
    from mmseg.registry import MODELS
    import sclip_toolkit.models  # noqa: F401  (registration)
    cls = MODELS.get(step['type']) if isinstance(step['type'], str) else step['type']
    return bool(getattr(cls, 'uses_background', False))


def _load(config: str, vfm_checkpoint: Optional[str], cfg_options: Optional[dict]) -> Config:
    try:
        return load_config(config, vfm_checkpoint=vfm_checkpoint, cfg_options=cfg_options)
    except ValueError as exc:  # e.g. a VFM checkpoint for a method without a VFM
        raise SegmenterError(str(exc).replace('--vfm-checkpoint', 'vfm_checkpoint')) from None


def split_backbone(backbone: Optional[str], checkpoint: Optional[str]) -> tuple:
    """(backbone name, checkpoint file or None): a backbone given as an existing file is a checkpoint."""
    if checkpoint is None and backbone and Path(backbone).expanduser().is_file():
        return Path(backbone).stem, str(Path(backbone).expanduser())
    return backbone, checkpoint


def resolve_device(device: Optional[Union[str, torch.device]]) -> torch.device:
    """None / 'auto': CUDA when available, else CPU; otherwise the named device, checked to exist."""
    if device in (None, 'auto'):
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise SegmenterError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:1' or None (auto)") from None
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise SegmenterError(f'device {device!r} was requested but CUDA is not available here; use device="cpu"')
    return dev
