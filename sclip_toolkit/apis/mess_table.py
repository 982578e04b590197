"""The MESS table: mIoU per method and MESS dataset, the mean of each domain and the overall mean, as MESS's
``mess_evaluation.py`` combines them (PAXRay-4 is the mean of the four PAXRay subsets; a domain's mean is over its
datasets; the overall mean over the 22 datasets), plus the two-class datasets' CoI-mIoU, sensitivity and
specificity. Rewritten whole (Markdown, CSV, .xlsx; each file replaced atomically) after every result.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..datasets.mess_catalog import MESS_DATASETS, MESS_DOMAINS, MESS_GROUPS
from ..io_utils import atomic_save, atomic_write

__all__ = ['MESSTable', 'MESSCell', 'BINARY_METRICS']

BINARY_METRICS = ('mIoU', 'CoI-mIoU', 'Sensitivity', 'Specificity')
DOMAIN_LABELS = {'General': 'General', 'Earth Monitoring': 'Earth', 'Medical Sciences': 'Medical',
                 'Engineering': 'Engineering', 'Agriculture and Biology': 'Agri+Bio'}


@dataclass
class MESSCell:
    """One (method, MESS set) result: its metrics, or the reason there are none."""
    metrics: Dict[str, float] = field(default_factory=dict)
    status: str = 'pending'  # 'done', 'failed', 'pending'
    note: str = ''


def _mean(values: Sequence[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None


class MESSTable:
    """Methods (rows) x MESS columns, domain means and the mean, saved after every :meth:`set`.

    Args:
        prefix: output path without suffix: ``prefix.md``, ``prefix.csv``, ``prefix_binary.csv``, ``prefix.xlsx``.
        methods: row order.
        datasets: the MESS sets (toolkit names) of this table; the columns are the MESS columns they make up.
    """

    def __init__(self, prefix: Path, methods: Sequence[str], datasets: Sequence[str] = tuple(MESS_DATASETS)):
        self.prefix, self.methods = Path(prefix), list(methods)
        self.datasets = [d for d in MESS_DATASETS if d in set(datasets)]  # MESS's order
        self.columns = list(dict.fromkeys(MESS_DATASETS[d].column for d in self.datasets))
        self.cells: Dict[Tuple[str, str], MESSCell] = {(m, d): MESSCell() for m in self.methods for d in self.datasets}

    def set(self, method: str, dataset: str, metrics: Optional[Dict[str, float]] = None, status: str = 'done',
            note: str = '', save: bool = True) -> None:
        """Record a result (``status='done'`` with ``metrics``, which hold at least 'mIoU') or a failure."""
        if (method, dataset) not in self.cells:
            raise KeyError(f'({method}, {dataset}) is not in the table: methods {self.methods}, datasets '
                           f'{self.datasets}')
        self.cells[method, dataset] = MESSCell(dict(metrics or {}), status, note)
        if save:
            self.save()

    def column_value(self, method: str, column: str) -> Tuple[Optional[float], str]:
        """A column's mIoU (the mean over its sets, all of which must be done) and its text."""
        keys = [k for k in MESS_GROUPS[column] if k in self.datasets]
        cells = [self.cells[method, k] for k in keys]
        done = [c.metrics['mIoU'] for c in cells if c.status == 'done']
        if len(done) == len(cells):
            value = _mean(done)
            return value, f'{value:.2f}'
        if any(c.status == 'failed' for c in cells):
            return None, 'failed'
        return None, f'({len(done)}/{len(cells)})' if done else ''

    def _mean_text(self, method: str, columns: Sequence[str]) -> Tuple[Optional[float], str]:
        values = [v for v in (self.column_value(method, c)[0] for c in columns) if v is not None]
        value = _mean(values)
        if value is None:
            return None, ''
        return value, f'{value:.2f}' if len(values) == len(columns) else f'{value:.2f} ({len(values)}/{len(columns)})'

    def domains(self) -> List[Tuple[str, List[str]]]:
        """(domain, its columns) for the domains with a column in this table, in MESS's order."""
        by_domain = [(d, [c for c in self.columns if MESS_DATASETS[MESS_GROUPS[c][0]].domain == d])
                     for d in MESS_DOMAINS]
        return [(d, cols) for d, cols in by_domain if cols]

    def rows(self) -> List[List[str]]:
        """Header + one row per method (strings, as the CSV holds them)."""
        domains = self.domains()
        header = ['method'] + self.columns + [f'{DOMAIN_LABELS[d]} mean' for d, _ in domains] + ['mean']
        out = [header]
        for m in self.methods:
            row = [m] + [self.column_value(m, c)[1] for c in self.columns]
            row += [self._mean_text(m, cols)[1] for _, cols in domains] + [self._mean_text(m, self.columns)[1]]
            out.append(row)
        return out

    def binary_rows(self) -> List[List[str]]:
        """Header + one row per (two-class set, method) with a result: MESS's extra metrics."""
        out = [['dataset', 'method', *BINARY_METRICS]]
        for d in self.datasets:
            if MESS_DATASETS[d].num_classes != 2:
                continue
            for m in self.methods:
                cell = self.cells[m, d]
                if cell.status == 'done':
                    out.append([MESS_DATASETS[d].label, m] +
                               [f'{cell.metrics[k]:.2f}' if k in cell.metrics else '' for k in BINARY_METRICS])
        return out

    def notes(self) -> List[str]:
        return [f'- {m} / {d}: {c.status}{": " + c.note if c.note else ""}'
                for (m, d), c in self.cells.items() if c.status == 'failed']

    @staticmethod
    def _markdown_table(rows: List[List[str]]) -> str:
        lines = ['| ' + ' | '.join(r) + ' |' for r in rows]
        lines.insert(1, '|' + '|'.join('---' for _ in rows[0]) + '|')
        return '\n'.join(lines) + '\n'

    def markdown(self) -> str:
        text = 'MESS, mIoU (%)\n\n' + self._markdown_table(self.rows())
        text += ('\nPAXRay-4: mean of the four PAXRay subsets. (k/n): mean over the k columns (or subsets) with a '
                 'result.\n')
        binary = self.binary_rows()
        if len(binary) > 1:
            text += '\nTwo-class datasets (%)\n\n' + self._markdown_table(binary)
        notes = self.notes()
        if notes:
            text += '\n' + '\n'.join(notes) + '\n'
        return text

    @staticmethod
    def _csv(rows: List[List[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        return buffer.getvalue().encode('utf-8')

    def save(self) -> None:
        """Write every file of the table (each replaced whole, never appended)."""
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.prefix.with_suffix('.md'), self.markdown().encode('utf-8'))
        atomic_write(self.prefix.with_suffix('.csv'), self._csv(self.rows()))
        atomic_write(self.prefix.parent / f'{self.prefix.name}_binary.csv', self._csv(self.binary_rows()))
        self._save_xlsx(self.prefix.with_suffix('.xlsx'))

    def _save_xlsx(self, path: Path) -> None:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = 'mIoU'
        sheet.append(self.rows()[0])
        domains = self.domains()
        for m in self.methods:  # numbers as numbers, so spreadsheets can compute with them
            values = []
            for c in self.columns:
                value, text = self.column_value(m, c)
                values.append(value if value is not None else (text or None))
            values += [self._mean_text(m, cols)[0] for _, cols in domains] + [self._mean_text(m, self.columns)[0]]
            sheet.append([m] + values)
        binary = book.create_sheet('two-class')
        rows = self.binary_rows()
        binary.append(rows[0])
        for row in rows[1:]:
            binary.append(row[:2] + [float(v) if v else None for v in row[2:]])
        notes = [(m, d, c.status, c.note) for (m, d), c in self.cells.items() if c.status == 'failed']
        if notes:
            errors = book.create_sheet('errors')
            errors.append(['method', 'dataset', 'status', 'note'])
            for row in notes:
                errors.append(list(row))
        atomic_save(path, book.save)
