"""Configs: finding and loading them (``loading``), reading ``--cfg-options`` values (``overrides``) and checking a
model config against the registered constructors (``check``)."""
from mmengine.config import DictAction  # noqa: F401  (re-exported for the scripts)

from .check import ConfigError, check_model_config, parse_cfg_options
from .loading import (CONFIG_DIR, CfgOptionsAction, apply_overrides, available_configs, load_config,
                      resolve_config_path)

__all__ = ['CONFIG_DIR', 'ConfigError', 'available_configs', 'resolve_config_path', 'load_config', 'apply_overrides',
           'check_model_config', 'parse_cfg_options', 'CfgOptionsAction', 'DictAction']
