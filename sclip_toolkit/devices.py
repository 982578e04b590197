"""The ``--device`` option of the scripts, checked once for all of them (command-line words in the messages)."""
from __future__ import annotations

from typing import Optional

import torch

from .exceptions import ConfigError


def check_cli_device(device: Optional[str]) -> Optional[torch.device]:
    """'cpu', 'cuda' or 'cuda:N' present on this machine; None / '' / 'auto': None (CUDA when available).

    Raises:
        ConfigError: not a device, no CUDA here, or no such GPU; the message says what to give instead.
    """
    if device in (None, '', 'auto'):
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in ('cpu', 'cuda'):
        raise ConfigError(f'--device {device}: not a device; use --device cpu, cuda or cuda:N (default: cuda when '
                          f'available, else cpu)')
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise ConfigError(f'--device {device} was given but CUDA is not available here; use --device cpu')
    if dev.type == 'cuda' and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f'--device {device}: this machine has {torch.cuda.device_count()} GPU(s) (cuda:0 .. '
                          f'cuda:{torch.cuda.device_count() - 1})')
    return dev
