"""Evaluate methods on several datasets and collect one mIoU table (Markdown, CSV, .xlsx) with the averages.

    python tools/eval_all.py --methods sclip naclip                 # the references' 8 standard datasets
    python tools/eval_all.py --methods clearclip --datasets voc20 context59 --gpus 4
    python tools/eval_all.py --pairs sclip:voc21 proxyclip:ade847 --checkpoint ViT-B-16.pt
    python tools/eval_all.py --suite mess                            # every method x the 22 MESS datasets

Each (method, dataset) runs configs/<method>/<method>_<dataset>.py in its own process (eval.py, or dist_test.sh
with --gpus N > 1), logging to <out-dir>/<method>_<dataset>/eval.log. The table is rewritten after every pair, so
finished rows survive a later failure; a failed pair is marked in the table and the run goes on.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from sclip_toolkit.apis.evaluate import METRICS_FILE
from sclip_toolkit.cli.args import add_cfg_options, add_weight_options
from sclip_toolkit.apis.results_table import DATASET_LABELS, STANDARD_DATASETS, ResultsTable
from sclip_toolkit.config import CONFIG_DIR, load_config

ROOT = Path(__file__).resolve().parents[1]


def evaluable_methods() -> List[str]:
    """The methods (found from their base configs) that have per-dataset configs configs/<method>/<method>_*.py."""
    from sclip_toolkit.methods import available_methods
    return [m for m in available_methods() if any((CONFIG_DIR / m).glob(f'{m}_*.py'))]


def parse_pairs(args: argparse.Namespace) -> Tuple[List[str], List[str], List[Tuple[str, str]]]:
    """Rows, columns and the (method, dataset) pairs to run, in order."""
    if args.pairs:
        pairs = []
        for item in args.pairs:
            method, sep, dataset = item.partition(':')
            if not sep or not method or not dataset:
                raise SystemExit(f'--pairs wants METHOD:DATASET items (e.g. sclip:voc21), got {item!r}')
            pairs.append((method, dataset))
        methods = list(dict.fromkeys(m for m, _ in pairs))
        datasets = list(dict.fromkeys(d for _, d in pairs))
    else:
        methods, datasets = list(args.methods), list(args.datasets)
        pairs = [(m, d) for m in methods for d in datasets]
    unknown = sorted({d for _, d in pairs} - set(DATASET_LABELS))
    if unknown:
        raise SystemExit(f'unknown dataset(s) {unknown}; valid: {", ".join(DATASET_LABELS)}')
    return methods, datasets, pairs


def split_pair_name(name: str) -> Optional[Tuple[str, str]]:
    """'sclip_coco_object' -> ('sclip', 'coco_object'): a work folder's (method, dataset), or None."""
    for dataset in sorted(DATASET_LABELS, key=len, reverse=True):  # longest first: coco_stuff164k before others
        if name.endswith(f'_{dataset}') and len(name) > len(dataset) + 1:
            return name[:-len(dataset) - 1], dataset
    return None


def finished_pairs(out_dir: Path) -> Dict[Tuple[str, str], float]:
    """mIoU of every (method, dataset) whose <out_dir>/<method>_<dataset>/metrics.json exists (earlier runs)."""
    found = {}
    for path in sorted(out_dir.glob(f'*/{METRICS_FILE}')):
        pair = split_pair_name(path.parent.name)
        try:
            miou = json.loads(path.read_text(encoding='utf-8'))['mIoU']
        except (OSError, ValueError, KeyError):
            continue  # unreadable: the pair is shown as it was run this time, or not at all
        if pair is not None:
            found[pair] = miou
    return found


def uses_vfm(config: Path) -> bool:
    """Whether a config has a vision foundation model (only those accept --vfm-checkpoint)."""
    return load_config(str(config)).model.get('clip', {}).get('vfm') is not None


def eval_command(config: Path, work_dir: Path, args: argparse.Namespace) -> List[str]:
    """The eval.py (or dist_test.sh) command line of one pair."""
    if args.gpus > 1:
        cmd = ['bash', str(ROOT / 'dist_test.sh'), str(config), str(args.gpus)]
    else:
        cmd = [sys.executable, str(ROOT / 'eval.py'), '--config', str(config)]
    cmd += ['--work-dir', str(work_dir), '--no-progress']
    if args.checkpoint:
        cmd += ['--checkpoint', args.checkpoint]
    if args.vfm_checkpoint and uses_vfm(config):
        cmd += ['--vfm-checkpoint', args.vfm_checkpoint]
    if args.cfg_options:
        cmd += ['--cfg-options', *args.cfg_options]
    return cmd


def last_error_line(log: Path) -> str:
    """The most telling line of a failed run's log (the exception message if there is one)."""
    lines = [line.strip() for line in log.read_text(encoding='utf-8', errors='replace').splitlines() if line.strip()]
    errors = [line for line in lines if 'Error' in line.split(':')[0] or line.startswith('AssertionError')]
    return (errors or lines or ['(empty log)'])[-1][:300]


def run_pair(method: str, dataset: str, args: argparse.Namespace) -> Tuple[Optional[float], str, str]:
    """Evaluate one pair; returns (mIoU or None, status, note)."""
    config = CONFIG_DIR / method / f'{method}_{dataset}.py'
    if not config.is_file():
        return None, 'missing', f'no config {config.relative_to(ROOT)}'
    work_dir = Path(args.out_dir) / f'{method}_{dataset}'
    metrics_path = work_dir / METRICS_FILE
    if args.skip_existing and metrics_path.is_file():
        return json.loads(metrics_path.read_text())['mIoU'], 'done', 'from an earlier run'
    work_dir.mkdir(parents=True, exist_ok=True)
    metrics_path.unlink(missing_ok=True)  # a stale file must not pass for this run's result
    log = work_dir / 'eval.log'
    # In the caller's working directory, as eval.py itself: relative --out-dir, --checkpoint, --cfg-options paths
    # and $SCLIP_DATA mean the same in this process and in the evaluation.
    with open(log, 'w', encoding='utf-8') as out:
        code = subprocess.call(eval_command(config, work_dir, args), stdout=out, stderr=subprocess.STDOUT)
    if code == 0 and metrics_path.is_file():
        return json.loads(metrics_path.read_text())['mIoU'], 'done', ''
    if code == 0:
        return None, 'failed', f'the evaluation ended without writing {metrics_path.resolve()} (log: {log})'
    return None, 'failed', f'exit code {code}: {last_error_line(log)} (log: {log})'


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    methods = evaluable_methods()
    parser.add_argument('--methods', nargs='+', help=f'rows (default: {" ".join(methods)}; MESS: those with MESS '
                        f'settings)')
    parser.add_argument('--datasets', nargs='+', help=f'columns (default: the 8 standard ones: '
                        f'{" ".join(STANDARD_DATASETS)}; MESS: all 25 sets)')
    parser.add_argument('--suite', choices=['standard', 'mess'], default='standard',
                        help="'mess': the MESS datasets (configs <method>_mess_<dataset>, MESS's metrics, per-domain "
                             "means; resumes by default)")
    parser.add_argument('--rerun', action='store_true', help='MESS: evaluate pairs already done again (the earlier '
                        'result is kept until the new one is written)')
    parser.add_argument('--save-preds', action='store_true', help='MESS: keep each pair\'s label maps in '
                        '<pair dir>/preds, so a pair stopped half-way resumes where it stopped')
    parser.add_argument('--pairs', nargs='+', help='explicit METHOD:DATASET pairs instead of methods x datasets')
    parser.add_argument('--out-dir', help='work dirs and the table go here (default: work_dirs/eval_all, MESS: '
                        'work_dirs/eval_all_mess)')
    parser.add_argument('--name', default='results', help='table file name without suffix (default: results)')
    parser.add_argument('--gpus', type=int, default=1, help='processes per evaluation (>1: dist_test.sh)')
    add_weight_options(parser, method=False)  # passed to every evaluation (the VFM's to the configs with one)
    add_cfg_options(parser, example='test_dataloader.num_workers=0 (passed to every eval.py)')
    parser.add_argument('--skip-existing', action='store_true', help='reuse metrics.json of pairs already done')
    args = parser.parse_args(argv)
    if args.suite == 'mess':
        from sclip_toolkit.apis.mess_suite import run_mess
        return run_mess(args, eval_command)
    args.methods = args.methods or methods
    args.datasets = args.datasets or list(STANDARD_DATASETS)
    args.out_dir = args.out_dir or 'work_dirs/eval_all'

    methods, datasets, pairs = parse_pairs(args)
    # Results of earlier runs in the same folder stay in the table, whatever subset is run now.
    earlier = finished_pairs(Path(args.out_dir))
    methods += [m for m in dict.fromkeys(m for m, _ in earlier) if m not in methods]
    datasets += [d for d in dict.fromkeys(d for _, d in earlier) if d not in datasets]
    table = ResultsTable(Path(args.out_dir) / args.name, methods, datasets)
    for (method, dataset), miou in earlier.items():
        if (method, dataset) not in pairs:
            table.set(method, dataset, miou, 'done', 'from an earlier run', save=False)
    table.save()
    failures = 0
    for i, (method, dataset) in enumerate(pairs, start=1):
        start = time.time()
        print(f'[{i}/{len(pairs)}] {method} on {dataset} ...', flush=True)
        miou, status, note = run_pair(method, dataset, args)
        table.set(method, dataset, miou, status, note)
        failures += status != 'done'
        result = f'mIoU {miou:.2f}' if miou is not None else f'{status}: {note}'
        print(f'[{i}/{len(pairs)}] {method} on {dataset}: {result} ({time.time() - start:.0f} s)', flush=True)
    print('\n' + table.markdown())
    print(f'table: {table.prefix}.md / .csv / .xlsx')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
