"""Write the MESS class-name files configs/classnames/cls_mess_<dataset>.txt from the mess-benchmark package.

    python tools/mess_classnames.py            # (re)write the 25 files from the installed package
    python tools/mess_classnames.py --check    # exit 1 naming each file that differs from the package

Evaluation reads only these files, so it does not need the package; tests/datasets/test_mess.py checks that they
equal the package's names, in order.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from sclip_toolkit.datasets.mess_catalog import MESS_DATASETS
from sclip_toolkit.resources import PROJECT_ROOT

NAMES_DIR = PROJECT_ROOT / 'configs' / 'classnames'
INSTALL_HINT = 'pip install mess-benchmark==0.2 --no-deps (tools/setup_env.sh installs it)'


def package_metadata() -> Dict[str, object]:
    """MESS's metadata of every registered set (name -> detectron2-style Metadata), from the installed package.

    Raises:
        ImportError: the package is not installed (the message says how to install it).
    """
    try:
        import mess.datasets  # noqa: F401  (registers every set in MESS's own catalog, without reading any file)
    except ImportError as exc:
        raise ImportError(f'the mess-benchmark package is not importable ({exc}); {INSTALL_HINT}') from None
    try:
        from detectron2.data import MetadataCatalog  # MESS registers there when detectron2 is installed
    except ImportError:
        from mess.utils.catalog import MetadataCatalog
    return {spec.mess_name: MetadataCatalog.get(spec.mess_name) for spec in MESS_DATASETS.values()}


def package_class_names() -> Dict[str, List[str]]:
    """The class names of every MESS set (toolkit name -> names in MESS's order), from the installed package."""
    meta = package_metadata()
    return {key: list(meta[spec.mess_name].stuff_classes) for key, spec in MESS_DATASETS.items()}


def name_file(key: str) -> Path:
    return NAMES_DIR / f'cls_mess_{key}.txt'


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix='.tmp')
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true', help='compare instead of writing; exit 1 if any differs')
    args = parser.parse_args(argv)
    try:
        names = package_class_names()
    except ImportError as exc:
        print(f'mess_classnames.py: error: {exc}', file=sys.stderr)
        return 2
    differ = []
    for key, classes in names.items():
        text = '\n'.join(classes) + '\n'
        path = name_file(key)
        current = path.read_text(encoding='utf-8') if path.is_file() else None
        if current == text:
            continue
        if args.check:
            differ.append(f'{path.relative_to(PROJECT_ROOT)} differs from the package ({len(classes)} classes)')
        else:
            write_atomic(path, text)
            print(f'wrote {path.relative_to(PROJECT_ROOT)} ({len(classes)} classes)')
    for line in differ:
        print(line, file=sys.stderr)
    if args.check and not differ:
        print(f'all {len(names)} MESS class-name files equal the package\'s')
    return 1 if differ else 0


if __name__ == '__main__':
    sys.exit(main())
