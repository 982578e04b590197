"""Configs: finding and loading them (``loading``), reading ``--cfg-options`` (``overrides``, the one parser) and
checking a model config against the registered constructors (``check``)."""
from .check import ConfigError, check_model_config
from .loading import CONFIG_DIR, apply_overrides, available_configs, load_config, resolve_config_path
from .overrides import parse_cfg_option, parse_cfg_options

__all__ = ['CONFIG_DIR', 'ConfigError', 'available_configs', 'resolve_config_path', 'load_config', 'apply_overrides',
           'check_model_config', 'parse_cfg_option', 'parse_cfg_options']
