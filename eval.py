"""Evaluate a config on its dataset (mIoU with mmseg's IoUMetric); writes <work_dir>/metrics.json.

    python eval.py --config configs/sclip/sclip_voc21.py
    python eval.py --config naclip_ade20k --checkpoint ViT-B-16.pt --cfg-options "model.post_process=[]"
    python eval.py --list                                     # the config names
    python eval.py --config sclip_mess_floodnet               # MESS datasets: <method>_mess_<dataset>
    bash dist_test.sh configs/sclip/sclip_voc21.py 4          # torchrun, 4 processes (GPUs, or CPUs with gloo)

Datasets are found under $SCLIP_DATA (default ./data); docs/evaluation.md lists the layouts.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Only the standard library is imported before the arguments are parsed: --help and argument errors are instant.
ROOT = Path(__file__).resolve().parent


def load_cli_args():
    """sclip_toolkit/cli/args.py (the model options every entry point shares), read as a file: the package's import
    registers every model (torch, mmseg) first."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('sclip_cli_args', ROOT / 'sclip_toolkit' / 'cli' / 'args.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', help="config file or name, e.g. 'sclip_voc21' (--list shows them)")
    parser.add_argument('--list', action='store_true', help='list the config names and exit')
    parser.add_argument('--work-dir', help='logs and metrics.json go here (default: work_dirs/<config name>)')
    load_cli_args().add_model_options(parser, method=False,
                                      example='model.logit_scale=50 test_dataloader.num_workers=0')
    parser.add_argument('--show-dir', help='also save a picture of every prediction as DIR/<image name>.png')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help="'pytorch' under torchrun (dist_test.sh)")
    parser.add_argument('--save-preds', metavar='DIR',
                        help='save every label map in DIR; running the same command again reuses them (resume)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.list and not args.config:
        parser.error('--config is required (a file or a name such as sclip_voc21; --list shows the names)')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))  # torch.distributed.launch passes it as an argument
    return args


def run(args: argparse.Namespace) -> None:
    """Evaluate (or list the configs) as the parsed arguments say."""
    from sclip_toolkit.cli.args import cfg_options
    from sclip_toolkit.config import available_configs
    if args.list:
        print('\n'.join(available_configs()))
        from sclip_toolkit.datasets.mess_catalog import MESS_DATASETS
        from sclip_toolkit.datasets.mess_configs import mess_methods
        # on stderr, so that stdout stays one config name a line
        print(f'and the MESS benchmark, made on demand: <method>_mess_<dataset> for method in '
              f'{", ".join(mess_methods())} and dataset in {", ".join(sorted(MESS_DATASETS))} '
              f'(docs/evaluation.md)', file=sys.stderr)
        return
    from sclip_toolkit.apis.evaluate import evaluate
    evaluate(args.config, work_dir=args.work_dir, checkpoint=args.checkpoint, vfm_checkpoint=args.vfm_checkpoint,
             cfg_options=cfg_options(args), show_dir=args.show_dir, launcher=args.launcher,
             progress=not args.no_progress, save_preds=args.save_preds, device=args.device,
             sam_checkpoint=args.sam_checkpoint, sam_refine=args.sam_refine)


def main(argv=None) -> int:
    """Parse (argument errors exit 2 at once), then run; a user error prints one line and returns 2."""
    args = parse_args(argv)
    if args.device == 'cpu':
        os.environ['CUDA_VISIBLE_DEVICES'] = ''  # before torch is imported: every library then sees no GPU
    from sclip_toolkit.cli import run_cli
    return run_cli(lambda: run(args), 'eval.py')


if __name__ == '__main__':
    sys.exit(main())
