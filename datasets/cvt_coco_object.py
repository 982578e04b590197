"""Make COCO-Object label maps from COCO-Stuff-164k (the protocol of GroupViT/TCL, used by all five references).

    python datasets/cvt_coco_object.py data/coco_stuff164k -o data/coco_object --nproc 8

Reads the raw COCO-Stuff maps ``ROOT/annotations/{train2017,val2017}/*.png`` (pixel = COCO category id - 1, 255 =
unlabelled; files with 'TrainIds' in the name are skipped) and writes ``OUT/annotations/<split>/<name>
_instanceTrainIds.png`` with the 80 thing classes as 1..80 (in COCO order) and every stuff class **and** unlabelled
pixel as 0 (background). With ``-o`` elsewhere, the images are copied (or linked) to ``OUT/images`` too.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from functools import partial
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
from PIL import Image

SPLITS = ('train2017', 'val2017')
FULL_COUNT = 123287  # train2017 + val2017 maps of COCO-Stuff-164k
# Raw ids (category id - 1) of the 80 thing classes in COCO order; the category ids in between are unused.
THING_IDS = [*range(0, 11), *range(12, 25), 26, 27, *range(30, 44), *range(45, 65), 66, 69, *range(71, 82),
             *range(83, 90)]
STUFF_IDS = range(91, 182)  # the 91 stuff classes
UNLABELLED = 255


def coco_object_lut() -> np.ndarray:
    """(256,) uint8 table raw COCO-Stuff value -> COCO-Object label.

    Things -> 1..80, stuff and unlabelled (255) -> 0. Values that never occur in COCO-Stuff (the unused ids
    and 182..254) are left unchanged, as the references' conversion does.
    """
    assert len(THING_IDS) == 80 and len(STUFF_IDS) == 91
    lut = np.arange(256, dtype=np.uint8)
    lut[list(STUFF_IDS)] = 0
    lut[UNLABELLED] = 0
    lut[THING_IDS] = np.arange(1, 81, dtype=np.uint8)
    return lut


def convert_map(src: Path, out_dir: Path, lut: np.ndarray) -> Path:
    """Convert one raw map; returns the written ``<stem>_instanceTrainIds.png``."""
    with Image.open(src) as img:
        raw = np.asarray(img)
    if raw.ndim != 2 or raw.dtype != np.uint8:
        raise ValueError(f'{src}: expected a single-channel 8-bit label map, got shape {raw.shape} and dtype '
                         f'{raw.dtype}')
    dst = out_dir / f'{src.stem}_instanceTrainIds.png'
    Image.fromarray(lut[raw]).save(dst)
    return dst


def find_maps(root: Path) -> List[Path]:
    """Raw maps of both splits (skipping already converted '*TrainIds*' files), sorted."""
    maps: List[Path] = []
    for split in SPLITS:
        folder = root / 'annotations' / split
        if not folder.is_dir():
            warnings.warn(f'{folder} not found: skipping the {split} split')
            continue
        maps += sorted(p for p in folder.glob('*.png') if 'TrainIds' not in p.name)
    return maps


def transfer_images(root: Path, out: Path, mode: str) -> None:
    src, dst = root / 'images', out / 'images'
    if mode == 'skip' or not src.is_dir():
        if mode != 'skip':
            warnings.warn(f'{src} not found: no images copied to {dst}')
        return
    if mode == 'link':
        if not dst.exists():
            dst.symlink_to(src.resolve(), target_is_directory=True)
        return
    shutil.copytree(src, dst, dirs_exist_ok=True)


def convert(root: Path, out: Path, nproc: int = 1, images: str = 'copy') -> List[Path]:
    """Convert every raw map under ``root`` into ``out``; returns the written files."""
    root, out = Path(root), Path(out)
    maps = find_maps(root)
    if not maps:
        raise FileNotFoundError(f'no raw COCO-Stuff label maps found in {root}/annotations/{{{",".join(SPLITS)}}}; '
                                f'ROOT must be the COCO-Stuff-164k folder holding images/ and annotations/')
    if len(maps) != FULL_COUNT:
        warnings.warn(f'found {len(maps)} label maps, the full COCO-Stuff-164k train+val set has {FULL_COUNT}; '
                      f'converting those found')
    if out.resolve() != root.resolve():
        transfer_images(root, out, images)
    lut = coco_object_lut()
    jobs = {}
    for split in SPLITS:
        (out / 'annotations' / split).mkdir(parents=True, exist_ok=True)
    for path in maps:
        jobs.setdefault(path.parent.name, []).append(path)
    written: List[Path] = []
    from mmengine.utils import track_parallel_progress, track_progress
    for split, paths in jobs.items():
        fn = partial(convert_map, out_dir=out / 'annotations' / split, lut=lut)
        if nproc > 1:
            written += track_parallel_progress(fn, paths, nproc)
        else:
            written += track_progress(fn, paths)
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('coco_path', help='COCO-Stuff-164k root (with images/ and annotations/)')
    parser.add_argument('-o', '--out-dir', help='output root (default: the input root)')
    parser.add_argument('--nproc', type=int, default=16, help='worker processes (default 16)')
    parser.add_argument('--images', choices=['copy', 'link', 'skip'], default='copy',
                        help='with -o elsewhere: copy images/ there (default), symlink it, or leave it out')
    args = parser.parse_args(argv)
    written = convert(Path(args.coco_path), Path(args.out_dir or args.coco_path), max(1, args.nproc), args.images)
    print(f'\nwrote {len(written)} COCO-Object label maps under {Path(args.out_dir or args.coco_path) / "annotations"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
