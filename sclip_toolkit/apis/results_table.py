"""A methods x datasets mIoU table (as in the references' READMEs), rewritten to Markdown, CSV and .xlsx on every
update so that finished results survive a later failure."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..io_utils import atomic_open, atomic_save, atomic_write

# The references' eight standard benchmarks, in NACLIP's table order.
STANDARD_DATASETS = ('voc21', 'context60', 'coco_object', 'voc20', 'cityscapes', 'context59', 'ade20k',
                     'coco_stuff164k')
DATASET_LABELS = {'voc21': 'VOC21', 'voc20': 'VOC20', 'context60': 'PC60', 'context59': 'PC59',
                  'coco_object': 'COCO-Obj', 'coco_stuff164k': 'COCO-Stuff', 'coco_stuff10k': 'COCO-Stuff10k',
                  'cityscapes': 'Cityscapes', 'ade20k': 'ADE20K', 'context459': 'PC459', 'ade847': 'ADE847'}


@dataclass
class Cell:
    """One (method, dataset) result: an mIoU, or the reason there is none."""
    miou: Optional[float] = None
    status: str = 'pending'  # 'done', 'failed', 'missing' (no config), 'pending'
    note: str = ''


class ResultsTable:
    """mIoU per method (rows) and dataset (columns) with the row average, saved after every :meth:`set`.

    Args:
        prefix: output path without suffix; writes ``prefix.md``, ``prefix.csv`` and ``prefix.xlsx``.
        methods / datasets: row and column order.
    """

    def __init__(self, prefix: Path, methods: Sequence[str], datasets: Sequence[str]):
        self.prefix = Path(prefix)
        self.methods, self.datasets = list(methods), list(datasets)
        self.cells: Dict[Tuple[str, str], Cell] = {(m, d): Cell() for m in self.methods for d in self.datasets}

    def set(self, method: str, dataset: str, miou: Optional[float] = None, status: str = 'done', note: str = '',
            save: bool = True) -> None:
        """Record a result (``status='done'`` with ``miou``) or a failure, then rewrite the files."""
        if (method, dataset) not in self.cells:
            raise KeyError(f'({method}, {dataset}) is not in the table: methods {self.methods}, datasets '
                           f'{self.datasets}')
        self.cells[method, dataset] = Cell(None if miou is None else float(miou), status, note)
        if save:
            self.save()

    def average(self, method: str) -> Tuple[Optional[float], int]:
        """Mean mIoU of a row over its finished datasets, and how many datasets that is."""
        cells = [self.cells[method, d] for d in self.datasets]
        values = [c.miou for c in cells if c.status == 'done' and c.miou is not None]
        return (sum(values) / len(values) if values else None), len(values)

    def _cell_text(self, cell: Cell) -> str:
        if cell.status == 'done' and cell.miou is not None:
            return f'{cell.miou:.2f}'
        return {'pending': '', 'failed': 'failed', 'missing': 'n/a'}.get(cell.status, cell.status)

    def _avg_text(self, method: str) -> str:
        avg, count = self.average(method)
        if avg is None:
            return ''
        return f'{avg:.2f}' if count == len(self.datasets) else f'{avg:.2f} ({count}/{len(self.datasets)})'

    def rows(self) -> List[List[str]]:
        """Header + one row per method (strings, as written to the CSV)."""
        header = ['method'] + [DATASET_LABELS.get(d, d) for d in self.datasets] + ['avg']
        return [header] + [[m] + [self._cell_text(self.cells[m, d]) for d in self.datasets] + [self._avg_text(m)]
                           for m in self.methods]

    def markdown(self) -> str:
        rows = self.rows()
        lines = ['| ' + ' | '.join(r) + ' |' for r in rows]
        lines.insert(1, '|' + '|'.join('---' for _ in rows[0]) + '|')
        notes = [f'- {m} / {d}: {c.status}{": " + c.note if c.note else ""}'
                 for (m, d), c in self.cells.items() if c.status in ('failed', 'missing')]
        text = 'mIoU (%)\n\n' + '\n'.join(lines) + '\n'
        partial = [m for m in self.methods if 0 < self.average(m)[1] < len(self.datasets)]
        if partial:
            text += '\n(k/n): average over the k datasets with a result.\n'
        if notes:
            text += '\n' + '\n'.join(notes) + '\n'
        return text

    def save(self) -> None:
        """Write ``prefix.md``, ``prefix.csv`` and ``prefix.xlsx`` (each replaced whole, never appended)."""
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.prefix.with_suffix('.md'), self.markdown())
        with atomic_open(self.prefix.with_suffix('.csv'), 'w', newline='') as f:
            csv.writer(f).writerows(self.rows())
        self._save_xlsx(self.prefix.with_suffix('.xlsx'))

    def _save_xlsx(self, path: Path) -> None:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = 'mIoU'
        sheet.append(self.rows()[0])
        for m in self.methods:  # numbers as numbers, so spreadsheets can compute with them
            cells = [self.cells[m, d] for d in self.datasets]
            values = [c.miou if c.status == 'done' else (self._cell_text(c) or None) for c in cells]
            sheet.append([m] + values + [self.average(m)[0]])
        notes = [(m, d, c.status, c.note) for (m, d), c in self.cells.items() if c.status in ('failed', 'missing')]
        if notes:
            errors = book.create_sheet('errors')
            errors.append(['method', 'dataset', 'status', 'note'])
            for row in notes:
                errors.append(list(row))
        atomic_save(path, book.save)
