"""Download and convert the MESS datasets with the mess-benchmark package's own preparation, then check them.

    python tools/prepare_mess.py --dataset-dir data                      # all 22 (PAXRay's 4 subsets at once)
    python tools/prepare_mess.py --dataset-dir data --only floodnet cwfid
    python tools/prepare_mess.py --dataset-dir data --check              # only count the images already there

Each dataset's preparation (``mess.prepare_datasets.prepare_<name>``) runs in its own process in DIR, logging to
DIR/prepare_logs/<name>.log; a failure is one line and the next dataset goes on. Five datasets need a file that only
a person can fetch (an account or a request form): the line says which and where to put it. At the end every
prepared set's image count is compared with the count MESS expects. Evaluate with SCLIP_DATA=DIR.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from sclip_toolkit.datasets.mess import mess_pairs
from sclip_toolkit.datasets.mess_catalog import MESS_DATASETS, MESSSpec

# Programs and Python modules each preparation uses (its os.system calls and imports).
PROGRAMS = {'atlantis': ('git',), 'bdd100k': ('unzip',), 'chase_db1': ('wget', 'unzip'),
            'corrosion_cs': ('wget', 'unzip'), 'cub_200': ('wget', 'tar'), 'cwfid': ('git',),
            'dark_zurich': ('wget', 'unzip'), 'deepcrack': ('git', 'unzip'), 'dram': ('wget', 'unzip', 'unrar'),
            'foodseg103': ('wget', 'unzip'), 'isaid': ('unzip',), 'isprs_potsdam': ('unzip',),
            'kvasir_instrument': ('wget', 'unzip', 'tar'), 'mhp_v1': ('unzip',), 'paxray': ('unzip',),
            'pst900': ('unzip',), 'suim': ('unzip',), 'uavid': ('unzip',), 'zerowaste': ('wget', 'unzip')}
MODULES = {'cryonuseg': ('gdown',), 'isaid': ('gdown',), 'mhp_v1': ('gdown',), 'paxray': ('gdown',),
           'pst900': ('gdown', 'cv2'), 'suim': ('gdown',), 'worldfloods': ('gdown', 'rasterio')}
PIP = {'gdown': 'gdown==6.5.1', 'rasterio': 'rasterio==1.4.4', 'cv2': 'opencv-python',
       'mess': 'mess-benchmark==0.2 --no-deps'}
# Manual downloads: the files in DIR the preparation starts from (FloodNet: its folder, which needs no preparation).
MANUAL_FILES = {'bdd100k': ('bdd100k_images_10k.zip', 'bdd100k_sem_seg_labels_trainval.zip'),
                'isprs_potsdam': ('Potsdam.zip',), 'uavid': ('uavid_v1.5_official_release_image.zip',),
                'cryonuseg': ('archive',), 'floodnet': ()}


def preparations(only: Optional[Sequence[str]] = None) -> Dict[str, List[MESSSpec]]:
    """Preparation name ('paxray', 'floodnet', ...) -> the MESS sets it makes, for the names asked for.

    Raises:
        SystemExit: an unknown name (one line listing the valid ones).
    """
    groups: Dict[str, List[MESSSpec]] = {}
    for spec in MESS_DATASETS.values():
        groups.setdefault(spec.prepare[len('prepare_'):].replace('foodseg', 'foodseg103'), []).append(spec)
    if not only:
        return groups
    chosen: Dict[str, List[MESSSpec]] = {}
    for name in only:
        name = name[len('mess_'):] if name.startswith('mess_') else name
        group = next((g for g, specs in groups.items() if name == g or name in [s.key for s in specs]), None)
        if group is None:
            raise SystemExit(f'prepare_mess.py: error: unknown dataset {name!r}; valid: {", ".join(groups)}')
        chosen[group] = groups[group]
    return chosen


def count(spec: MESSSpec, dataset_dir: Path) -> Optional[int]:
    """Images of a MESS set that have a label map (MESS's pairing), or None when its folders are missing."""
    img_dir, ann_dir = dataset_dir / spec.folder / spec.img_dir, dataset_dir / spec.folder / spec.ann_dir
    if not img_dir.is_dir() or not ann_dir.is_dir():
        return None
    return len(mess_pairs(str(img_dir), str(ann_dir), spec.img_suffix, spec.seg_suffix))


def status(specs: List[MESSSpec], dataset_dir: Path) -> Tuple[bool, str]:
    """(every set has MESS's image count, a summary such as 'paxray_lungs 180 of 180, ...')."""
    counts = [(s, count(s, dataset_dir)) for s in specs]
    text = ', '.join(f'{s.key} {"missing" if n is None else f"{n} of {s.num_images}"}' for s, n in counts)
    return all(n == s.num_images for s, n in counts), text


def missing_requirements(name: str) -> List[str]:
    """What the preparation needs and this machine lacks, each with how to install it."""
    out = [f'{p} (apt-get install {p})' for p in PROGRAMS.get(name, ()) if shutil.which(p) is None]
    for module in ('mess',) + MODULES.get(name, ()):
        if importlib.util.find_spec(module) is None:
            out.append(f'the Python module {module} (pip install {PIP[module]})')
    return out


def manual_download_missing(name: str, specs: List[MESSSpec], dataset_dir: Path) -> bool:
    """Whether a manual dataset has neither its download nor its folder in DIR."""
    if name not in MANUAL_FILES or (dataset_dir / specs[0].folder).exists():
        return False
    files = MANUAL_FILES[name]
    return not files or not all((dataset_dir / f).exists() for f in files)


def _last_error_line(log: Path) -> str:
    lines = [ln.strip() for ln in log.read_text(encoding='utf-8', errors='replace').splitlines() if ln.strip()]
    errors = [ln for ln in lines if 'Error' in ln.split(':')[0] or 'Exception' in ln.split(':')[0]]
    return (errors or lines or ['(no output)'])[-1][:240]


def _remove_if_empty(folder: Path) -> bool:
    """Remove a folder holding only empty folders (left by a failed download); True if removed."""
    if not folder.is_dir() or any(p.is_file() for p in folder.rglob('*')):
        return False
    shutil.rmtree(folder)
    return True


def prepare(name: str, specs: List[MESSSpec], dataset_dir: Path) -> Tuple[bool, str]:
    """Run one preparation; (success, the one line that says how it went)."""
    done, text = status(specs, dataset_dir)
    if done:
        return True, f'{name}: ready ({text})'
    lacking = missing_requirements(name)
    if lacking:
        return False, f'{name}: not prepared: needs {"; ".join(lacking)}'
    if manual_download_missing(name, specs, dataset_dir):
        return False, (f'{name}: needs a manual download: {specs[0].manual}; put it in {dataset_dir} and run again')
    folder_existed = (dataset_dir / specs[0].folder).exists()
    logs = dataset_dir / 'prepare_logs'
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f'{name}.log'
    code = f'import mess.prepare_datasets.{specs[0].prepare} as p; p.main()'
    env = dict(os.environ, DETECTRON2_DATASETS=str(dataset_dir.resolve()))
    with open(log, 'w', encoding='utf-8') as out:
        result = subprocess.call([sys.executable, '-c', code], cwd=dataset_dir, env=env, stdout=out,
                                 stderr=subprocess.STDOUT)
    done, text = status(specs, dataset_dir)
    if done:
        return True, f'{name}: prepared ({text})'
    cleaned = not folder_existed and _remove_if_empty(dataset_dir / specs[0].folder)
    hint = f'; removed the empty {specs[0].folder} it left, so the next run downloads again' if cleaned else ''
    where = f'download it by hand from {specs[0].page} into {dataset_dir / specs[0].folder} if the download fails'
    reason = _last_error_line(log) if result else 'it ended without error but the images are not all there'
    return False, f'{name}: failed ({text}): {reason}; {where}{hint} (log: {log})'


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--dataset-dir', required=True, help='where the datasets go (then evaluate with '
                        'SCLIP_DATA=<this folder>)')
    parser.add_argument('--only', nargs='+', metavar='NAME', help='these datasets only (e.g. floodnet paxray)')
    parser.add_argument('--check', action='store_true', help='prepare nothing; count the images already there')
    args = parser.parse_args(argv)
    dataset_dir = Path(args.dataset_dir)
    chosen = preparations(args.only)
    dataset_dir.mkdir(parents=True, exist_ok=True)
    ok = 0
    for name, specs in chosen.items():
        if args.check:
            good, text = status(specs, dataset_dir)
            line = f'{name}: {"ready" if good else "not ready"} ({text})'
        else:
            good, line = prepare(name, specs, dataset_dir)
        ok += good
        print(line, flush=True)
    print(f'{ok} of {len(chosen)} ready in {dataset_dir}' + ('' if ok == len(chosen) else
          '; docs/evaluation.md ("MESS") lists the manual downloads'))
    return 0 if ok == len(chosen) else 1


if __name__ == '__main__':
    sys.exit(main())
