"""``tools/eval_all.py --suite mess``: every method with MESS settings over the MESS datasets, one process per pair.

Each pair runs the config ``<method>_mess_<dataset>`` (sclip_toolkit.datasets.mess_configs) into
``<out-dir>/<method>_mess_<dataset>/`` and the table (:class:`~sclip_toolkit.apis.mess_table.MESSTable`) is rewritten
after each. A pair whose metrics.json exists is not run again unless ``--rerun`` is given, and then its earlier
metrics.json is kept until the new one is written, so a finished column is never lost; results of earlier runs in the
folder stay in the table whatever subset a run names.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from ..datasets.mess_catalog import MESS_DATASETS
from ..datasets.mess_configs import mess_config_name, mess_methods, parse_mess_config_name
from .evaluate import METRICS_FILE
from .mess_table import MESSTable

__all__ = ['run_mess', 'mess_pairs_to_run', 'finished_mess_pairs']

PREVIOUS = 'metrics.prev.json'


def _dataset_key(name: str) -> str:
    key = name[len('mess_'):] if name.startswith('mess_') else name
    if key not in MESS_DATASETS:
        raise SystemExit(f'eval_all.py: error: unknown MESS dataset {name!r}; valid: {", ".join(MESS_DATASETS)}')
    return key


def mess_pairs_to_run(args: argparse.Namespace) -> Tuple[List[str], List[str], List[Tuple[str, str]]]:
    """Rows, MESS sets and the (method, set) pairs of this run, checked (a bad name is a one-line exit)."""
    if args.pairs:
        pairs = []
        for item in args.pairs:
            method, sep, dataset = item.partition(':')
            if not sep or not method or not dataset:
                raise SystemExit(f'eval_all.py: error: --pairs wants METHOD:DATASET items (e.g. sclip:floodnet), '
                                 f'got {item!r}')
            pairs.append((method, _dataset_key(dataset)))
        methods = list(dict.fromkeys(m for m, _ in pairs))
        datasets = list(dict.fromkeys(d for _, d in pairs))
    else:
        methods = list(args.methods or mess_methods())
        datasets = [_dataset_key(d) for d in args.datasets] if args.datasets else list(MESS_DATASETS)
        pairs = [(m, d) for m in methods for d in datasets]
    unknown = [m for m in methods if m not in mess_methods()]
    if unknown:
        raise SystemExit(f'eval_all.py: error: no MESS settings for {", ".join(unknown)} (configs/_base_/mess/'
                         f'<method>.py); methods with them: {", ".join(mess_methods())}')
    return methods, datasets, pairs


def _read_metrics(path: Path) -> Optional[Dict[str, float]]:
    try:
        record = json.loads(path.read_text(encoding='utf-8'))
        record['mIoU']
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: shown as it is run this time, or not at all
    return {k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def finished_mess_pairs(out_dir: Path) -> Dict[Tuple[str, str], Dict[str, float]]:
    """Metrics of every (method, MESS set) with a readable ``<out_dir>/<method>_mess_<set>/metrics.json``."""
    found = {}
    for path in sorted(out_dir.glob(f'*/{METRICS_FILE}')):
        pair = parse_mess_config_name(path.parent.name)
        metrics = _read_metrics(path)
        if pair is not None and pair[1] in MESS_DATASETS and metrics is not None:
            found[pair] = metrics
    return found


def _last_error_line(log: Path) -> str:
    lines = [ln.strip() for ln in log.read_text(encoding='utf-8', errors='replace').splitlines() if ln.strip()]
    errors = [ln for ln in lines if 'Error' in ln.split(':')[0] or ln.startswith('eval.py: error')]
    return (errors or lines or ['(empty log)'])[-1][:300]


def _run_pair(method: str, dataset: str, args: argparse.Namespace, eval_command: Callable, out_dir: Path
              ) -> Tuple[Optional[Dict[str, float]], str, str]:
    """Evaluate one pair (the earlier metrics.json, if any, survives a failure); (metrics, status, note)."""
    name = mess_config_name(method, dataset)
    work_dir = out_dir / name
    work_dir.mkdir(parents=True, exist_ok=True)
    metrics_path, previous = work_dir / METRICS_FILE, work_dir / PREVIOUS
    if metrics_path.is_file():
        metrics_path.replace(previous)  # moved back below unless this run writes a new one
    cmd = eval_command(name, work_dir, args)
    if args.save_preds:
        cmd += ['--save-preds', str(work_dir / 'preds')]
    log = work_dir / 'eval.log'
    with open(log, 'w', encoding='utf-8') as out:
        # in the caller's working directory, as eval.py itself: relative paths mean the same there (issue 22)
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    metrics = _read_metrics(metrics_path) if code == 0 else None
    if metrics is not None:
        previous.unlink(missing_ok=True)
        return metrics, 'done', ''
    if previous.is_file():
        previous.replace(metrics_path)
    return None, 'failed', f'exit code {code}: {_last_error_line(log)} (log: {log})'


def _result_text(metrics: Dict[str, float]) -> str:
    keys = ['mIoU'] + [k for k in ('CoI-mIoU', 'Sensitivity', 'Specificity') if k in metrics]
    return ', '.join(f'{k} {metrics[k]:.2f}' for k in keys)


def run_mess(args: argparse.Namespace, eval_command: Callable) -> int:
    """Run the MESS suite as eval_all.py's arguments say; prints a line per pair; returns 1 if any pair failed."""
    methods, datasets, pairs = mess_pairs_to_run(args)
    out_dir = Path(args.out_dir or 'work_dirs/eval_all_mess')
    earlier = finished_mess_pairs(out_dir)
    methods += [m for m in dict.fromkeys(m for m, _ in earlier) if m not in methods]
    datasets += [d for d in dict.fromkeys(d for _, d in earlier) if d not in datasets]
    table = MESSTable(out_dir / args.name, methods, datasets)
    for (method, dataset), metrics in earlier.items():
        table.set(method, dataset, metrics, 'done', 'from an earlier run', save=False)
    table.save()
    failures = 0
    for i, (method, dataset) in enumerate(pairs, start=1):
        spec = MESS_DATASETS[dataset]
        where = f'[{i}/{len(pairs)}] {method} on {spec.label} ({spec.domain}, {spec.num_images} images)'
        if (method, dataset) in earlier and not args.rerun:
            print(f'{where}: {_result_text(earlier[method, dataset])} (done earlier; --rerun evaluates it again)',
                  flush=True)
            continue
        start = time.time()
        print(f'{where} ...', flush=True)
        metrics, status, note = _run_pair(method, dataset, args, eval_command, out_dir)
        if status == 'done':
            table.set(method, dataset, metrics, status)
        elif (method, dataset) in earlier:  # the earlier result stays in the table (and on disk)
            table.set(method, dataset, earlier[method, dataset], 'done', 'from an earlier run')
        else:
            table.set(method, dataset, None, status, note)
        failures += status != 'done'
        result = _result_text(metrics) if metrics else f'{status}: {note}'
        print(f'{where}: {result} ({time.time() - start:.0f} s)', flush=True)
    print('\n' + table.markdown())
    print(f'table: {table.prefix}.md / .csv / _binary.csv / .xlsx')
    return 1 if failures else 0
