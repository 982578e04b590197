"""Configs ``<method>_mess_<dataset>`` for every method with MESS settings and every MESS set, made on demand.

A method's settings for MESS's unseen domains are ``configs/_base_/mess/<method>.py`` (its header says which and why);
a MESS set is ``configs/_base_/datasets/mess_<dataset>.py``. ``sclip_mess_floodnet`` is then those two bases, MESS's
class names (``configs/classnames/cls_mess_floodnet.txt``) with the method's name variants applied
(``mess_name_variants`` in its settings), and MESS's metric. Rather than 8 x 25 near-identical files, the config is
written when a name is asked for (to a cache folder per checkout, replaced atomically), so eval.py, dist_test.sh
and every tool that takes a config name accept these names as they are.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..resources import PROJECT_ROOT
from .mess_catalog import MESS_DATASETS

__all__ = ['MESS_SETTINGS_DIR', 'mess_methods', 'mess_config_name', 'parse_mess_config_name', 'mess_class_names',
           'mess_config_path', 'MESS_CONFIG_CACHE']

CONFIG_DIR = PROJECT_ROOT / 'configs'
MESS_SETTINGS_DIR = CONFIG_DIR / '_base_' / 'mess'
MESS_CONFIG_CACHE = Path(os.environ.get('SCLIP_MESS_CONFIGS') or
                         Path(tempfile.gettempdir()) / f'sclip_toolkit-{getattr(os, "getuid", lambda: 0)()}' /
                         'mess_configs')


def mess_methods() -> List[str]:
    """The methods with MESS settings (``configs/_base_/mess/<method>.py``), sorted."""
    return sorted(p.stem for p in MESS_SETTINGS_DIR.glob('*.py') if not p.name.startswith('_'))


def mess_config_name(method: str, dataset: str) -> str:
    """'sclip', 'floodnet' -> 'sclip_mess_floodnet'."""
    return f'{method}_mess_{dataset}'


def parse_mess_config_name(name: str) -> Optional[Tuple[str, str]]:
    """'sclip_mess_floodnet' (or 'sclip/sclip_mess_floodnet', '....py') -> ('sclip', 'floodnet'); None otherwise."""
    stem = Path(name).name
    stem = stem[:-3] if stem.endswith('.py') else stem
    match = re.fullmatch(r'(.+?)_mess_(.+)', stem)
    return (match[1], match[2]) if match else None


def _name_variants(method: str) -> Dict[str, str]:
    from mmengine.config import Config
    return dict(Config.fromfile(str(MESS_SETTINGS_DIR / f'{method}.py')).get('mess_name_variants') or {})


def mess_class_names(method: str, dataset: str) -> List[str]:
    """MESS's class names of ``dataset`` with ``method``'s whole-name variants applied, in MESS's order."""
    from .base import names_from_file
    spec = MESS_DATASETS[dataset]
    variants = _name_variants(method)
    return [variants.get(name, name) for name in names_from_file(f'cls_mess_{dataset}.txt', spec.num_classes)]


def _text(method: str, dataset: str) -> str:
    spec = MESS_DATASETS[dataset]
    settings, base = MESS_SETTINGS_DIR / f'{method}.py', CONFIG_DIR / '_base_' / 'datasets' / f'mess_{dataset}.py'
    names = mess_class_names(method, dataset)
    name_file = CONFIG_DIR / 'classnames' / f'cls_mess_{dataset}.txt'
    plain = _same_lines(names, name_file)
    # one class per item (a list of one name), so no method's separator can split a MESS name
    class_names = repr(str(name_file)) if plain else repr([[n] for n in names])
    return (f'# {method} on MESS {spec.label} ({spec.domain}), made by sclip_toolkit.datasets.mess_configs from\n'
            f'# {settings} and\n# {base};\n'
            f'# class names: {name_file}{"" if plain else " with the method name variants"}.\n'
            f'_base_ = [{str(base)!r}, {str(settings)!r}]\n'
            f'model = dict(text_encoder=dict(class_names={class_names}))\n'
            f"test_evaluator = dict(_delete_=True, type='MESSMetric')\n")


def _same_lines(names: List[str], path: Path) -> bool:
    return path.is_file() and path.read_text(encoding='utf-8').splitlines() == names


def mess_config_path(name: str) -> Optional[Path]:
    """The config file of a MESS config name, written now; None when ``name`` is not one.

    Raises:
        FileNotFoundError: a MESS-shaped name whose method has no MESS settings or whose dataset is not a MESS set
            (the message lists the valid ones).
    """
    parsed = parse_mess_config_name(name)
    if parsed is None:
        return None
    method, dataset = parsed
    if method not in mess_methods():
        raise FileNotFoundError(f'config {name!r}: method {method!r} has no MESS settings '
                                f'(configs/_base_/mess/{method}.py); methods with them: {", ".join(mess_methods())}')
    if dataset not in MESS_DATASETS:
        raise FileNotFoundError(f'config {name!r}: {dataset!r} is not a MESS dataset; valid: '
                                f'{", ".join(MESS_DATASETS)}')
    # one folder per checkout: two checkouts' configs name different base files under the same config name
    checkout = hashlib.sha1(str(PROJECT_ROOT.resolve()).encode()).hexdigest()[:10]
    path = MESS_CONFIG_CACHE / checkout / f'{mess_config_name(method, dataset)}.py'
    text = _text(method, dataset)
    if not path.is_file() or path.read_text(encoding='utf-8') != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix='.tmp')
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
        os.replace(tmp, path)  # concurrent ranks write the same text; a reader never sees half a file
    return path
