"""Loading toolkit configs with the command-line overrides every script shares, checked before anything is built."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from mmengine.config import Config

from .check import ConfigError, check_model_config, check_override_keys, closest
from ..resources import PROJECT_ROOT

CONFIG_DIR = PROJECT_ROOT / 'configs'

__all__ = ['CONFIG_DIR', 'ConfigError', 'available_configs', 'resolve_config_path', 'load_config', 'apply_overrides']


def available_configs() -> List[str]:
    """Config names ('sclip/sclip_voc21') of every method x dataset file under configs/."""
    return sorted(str(p.relative_to(CONFIG_DIR).with_suffix('')) for p in CONFIG_DIR.glob('*/*.py')
                  if not p.parts[-2].startswith('_'))


def resolve_config_path(config: str) -> Path:
    """A config file path, or a name such as 'sclip/sclip_voc21' / 'sclip_voc21' under configs/.

    Raises:
        FileNotFoundError: naming the closest config names (``eval.py --list`` shows them all).
    """
    p = Path(config)
    if p.is_file():
        return p
    for cand in (CONFIG_DIR / config, CONFIG_DIR / f'{config}.py'):
        if cand.is_file():
            return cand
    matches = [c for c in CONFIG_DIR.glob(f'*/{Path(config).stem}.py')]
    if len(matches) == 1:
        return matches[0]
    from ..datasets.mess_configs import mess_config_path  # '<method>_mess_<dataset>': made on demand
    mess = mess_config_path(config)
    if mess is not None:
        return mess
    names = available_configs()
    short = [n.split('/')[-1] for n in names]
    near = closest(Path(config).stem, short, n=3) or closest(str(config), names, n=3)
    hint = f'closest: {", ".join(near)}; ' if near else ''
    raise FileNotFoundError(f'config {config!r} not found; {hint}give a file path or a name such as sclip_voc21 '
                            f'(eval.py --list shows all {len(names)})')


def load_config(config: str, checkpoint: Optional[str] = None, vfm_checkpoint: Optional[str] = None,
                cfg_options: Optional[Dict[str, Any]] = None) -> Config:
    """Read a config, apply the usual overrides (CLIP / VFM checkpoint files, --cfg-options) and check ``model``.

    Raises:
        ConfigError: an override of a top-level key the config does not have, or a model key or value that the
            registered constructors do not accept (see :func:`sclip_toolkit.config.check.check_model_config`).
    """
    cfg = Config.fromfile(str(resolve_config_path(config)))
    if checkpoint:
        cfg.model.clip.checkpoint = str(checkpoint)
    if vfm_checkpoint:
        if cfg.model.clip.get('vfm') is None:
            raise ConfigError(f'--vfm-checkpoint was given but {config} uses no vision foundation model '
                              f'(model.clip.vfm is not set)')
        cfg.model.clip.vfm.checkpoint = str(vfm_checkpoint)
    return apply_overrides(cfg, cfg_options)


def apply_overrides(cfg: Config, cfg_options: Optional[Dict[str, Any]] = None) -> Config:
    """Merge ``--cfg-options`` into ``cfg`` and check the model config (raises ConfigError naming the key)."""
    if cfg_options:
        check_override_keys(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    if cfg.get('model') is not None:
        check_model_config(cfg.model)
    return cfg
