"""Segmenting a folder of images (``demo.py --image DIR``): output names that never collide, and the account of
what was written and what was skipped."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple


def output_stems(images: Sequence[Path]) -> List[str]:
    """The name each image's outputs start with: its stem ('a' for a.jpg), or its file name ('a.jpg', 'a.png') when
    two images share a stem, with '~2', '~3' ... added if even that collides (names compared case-blind, as on
    macOS and Windows). No two images ever write the same file."""
    stems = [Path(p).stem for p in images]
    counts: Dict[str, int] = {}
    for stem in stems:
        counts[stem.casefold()] = counts.get(stem.casefold(), 0) + 1
    out, used = [], set(s.casefold() for s in stems if counts[s.casefold()] == 1)
    for path, stem in zip(images, stems):
        if counts[stem.casefold()] == 1:
            out.append(stem)
            continue
        name, k = Path(path).name, 2
        candidate = name
        while candidate.casefold() in used:
            candidate, k = f'{name}~{k}', k + 1
        used.add(candidate.casefold())
        out.append(candidate)
    return out


class FolderRun:
    """What demo.py's ``segment_all`` did: the first image's summaries and label maps (for --compare), the first
    image as segmented, and in folder mode the images written (image, output stem) and skipped (image, reason)."""

    def __init__(self):
        self.summaries: List[Dict] = []
        self.label_maps: List = []
        self.first_rgb = None
        self.written: List[Tuple[Path, str]] = []
        self.skipped: List[Tuple[Path, str]] = []


def report_folder(folder: str, method: str, run_: FolderRun, out: Path) -> int:
    """Print what was written and what was skipped; 1 when an image was skipped, else 0."""
    print(f'{method}: segmented {len(run_.written)} of {len(run_.written) + len(run_.skipped)} images of '
          f'{folder}; wrote <name>_{method}_overlay.png, _labels.png and .json to {out} for:')
    for image, stem in run_.written:
        print(f'  {image.name} -> {stem}_{method}_*')
    if run_.skipped:
        print(f'skipped {len(run_.skipped)} image{"s" if len(run_.skipped) > 1 else ""} (nothing written for them):',
              file=sys.stderr)
        for image, why in run_.skipped:
            print(f'  {image.name}: {why}', file=sys.stderr)
        return 1
    return 0
