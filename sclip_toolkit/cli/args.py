"""The argument groups the entry points share, and reading ``--cfg-options`` (through the one parser,
:func:`sclip_toolkit.config.overrides.parse_cfg_options`).

demo.py, eval.py, app.py and the tools add their model options here, so an option is spelled, explained and read the
same way everywhere. This module imports only the standard library at load time: demo.py and eval.py read it as a
file before anything heavy is imported, so that ``--help`` and argument errors are instant.
"""
from __future__ import annotations

import argparse
from typing import Any, Dict

# A parser or one of its argument groups (both have add_argument).
Container = Any

BACKBONE_HELP = ('OpenAI CLIP release: ViT-B/16 (default), ViT-B/32, ViT-L/14, ViT-L/14-336; or an open_clip '
                 'architecture with --pretrained')
DEVICE_HELP = 'cpu, cuda, cuda:1 (default: cuda when available, else cpu)'


def add_weight_options(parser: Container, method: bool = True) -> None:
    """Which weights to load: ``--checkpoint`` and ``--vfm-checkpoint``; with ``method`` (entry points that build a
    method base, not a config file) also ``--backbone``, ``--pretrained`` and ``--download``."""
    if method:
        parser.add_argument('--backbone', help=BACKBONE_HELP)
    parser.add_argument('--checkpoint', help='CLIP checkpoint file in the OpenAI layout (instead of the '
                                             + ('cached release)' if method else "config's weights)"))
    parser.add_argument('--vfm-checkpoint', help="vision foundation model checkpoint (proxyclip; default: DINO "
                                                 "ViT-B/8's official file in the torch hub cache)")
    parser.add_argument('--sam-checkpoint', help="SAM checkpoint in segment-anything's layout (trident; default: SAM "
                                                 "ViT-B's official file in the torch hub cache)")
    parser.add_argument('--sam-refine', action='store_true', help="trident: refine the masks with SAM's prompt "
                                                                  'encoder and mask decoder')
    if method:
        parser.add_argument('--pretrained', help='open_clip pretrained tag, e.g. laion2b_s34b_b88k (default: openai)')
        parser.add_argument('--download', action='store_true', help='download missing official weights (needs '
                                                                    'internet)')


def add_device_option(parser: Container) -> None:
    parser.add_argument('--device', default=None, help=DEVICE_HELP)


def add_cfg_options(parser: Container, example: str = 'model.logit_scale=50') -> None:
    """``--cfg-options KEY=VALUE ...``, kept as the strings given; :func:`cfg_options` reads them."""
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help=f'override config entries, e.g. {example}; lists of parts too: '
                             f'"model.post_process=[dict(type=\'PAMR\', steps=5)]"')


def add_model_options(parser: argparse.ArgumentParser, method: bool = True, device: bool = True,
                      example: str = 'model.logit_scale=50') -> Container:
    """The 'model options' group: weights (:func:`add_weight_options`), ``--device`` and ``--cfg-options``."""
    group = parser.add_argument_group('model options')
    add_weight_options(group, method)
    if device:
        add_device_option(group)
    add_cfg_options(group, example)
    return group


def cfg_options(args: argparse.Namespace) -> Dict[str, Any]:
    """``args.cfg_options`` as a dict of dotted keys (later items win).

    Raises:
        ConfigError: an item is not KEY=VALUE or its value cannot be read; the message names the item.
    """
    from sclip_toolkit.config.overrides import parse_cfg_options  # heavy: imported when the options are read

    return parse_cfg_options(getattr(args, 'cfg_options', None))
