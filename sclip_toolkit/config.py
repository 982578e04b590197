"""Loading toolkit configs with the command-line overrides every script shares."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from mmengine.config import Config, DictAction  # noqa: F401  (DictAction re-exported for the scripts)

from .exceptions import ConfigError
from .models.text import PROJECT_ROOT

CONFIG_DIR = PROJECT_ROOT / 'configs'


def available_configs() -> list:
    """Config names ('sclip/sclip_voc21') of every method x dataset file under configs/."""
    return sorted(str(p.relative_to(CONFIG_DIR).with_suffix('')) for p in CONFIG_DIR.glob('*/*.py')
                  if not p.parts[-2].startswith('_'))


def resolve_config_path(config: str) -> Path:
    """A config file path, or a name such as 'sclip/sclip_voc21' / 'sclip_voc21' under configs/."""
    p = Path(config)
    if p.is_file():
        return p
    for cand in (CONFIG_DIR / config, CONFIG_DIR / f'{config}.py'):
        if cand.is_file():
            return cand
    matches = [c for c in CONFIG_DIR.glob(f'*/{Path(config).stem}.py')]
    if len(matches) == 1:
        return matches[0]
    names = available_configs()
    raise FileNotFoundError(f'config {config!r} not found; give a file path or one of: {", ".join(names)}')


def load_config(config: str, checkpoint: Optional[str] = None, vfm_checkpoint: Optional[str] = None,
                cfg_options: Optional[Dict[str, Any]] = None) -> Config:
    """Read a config and apply the usual overrides (CLIP / VFM checkpoint files, --cfg-options)."""
    cfg = Config.fromfile(str(resolve_config_path(config)))
    if checkpoint:
        cfg.model.clip.checkpoint = str(checkpoint)
    if vfm_checkpoint:
        if cfg.model.clip.get('vfm') is None:
            raise ConfigError(f'--vfm-checkpoint was given but {config} uses no vision foundation model '
                             f'(model.clip.vfm is not set)')
        cfg.model.clip.vfm.checkpoint = str(vfm_checkpoint)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg
