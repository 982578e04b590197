"""Evaluate a config on its dataset (mIoU with mmseg's IoUMetric); writes <work_dir>/metrics.json.

    python eval.py --config configs/sclip/sclip_voc21.py
    python eval.py --config naclip_ade20k --checkpoint ViT-B-16.pt --cfg-options model.post_process=[]
    bash dist_test.sh configs/sclip/sclip_voc21.py 4          # torchrun, 4 processes (GPUs, or CPUs with gloo)

Datasets are found under $SCLIP_DATA (default ./data); docs/evaluation.md lists the layouts.
"""
from __future__ import annotations

import argparse
import os

from sclip_toolkit.apis.evaluate import evaluate
from sclip_toolkit.config import DictAction


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', required=True, help="config file or name, e.g. 'sclip_voc21'")
    parser.add_argument('--work-dir', help='logs and metrics.json go here (default: work_dirs/<config name>)')
    parser.add_argument('--checkpoint', help='local CLIP weights (OpenAI layout) instead of the config\'s')
    parser.add_argument('--vfm-checkpoint', help='local weights of the vision foundation model (ProxyCLIP)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries, e.g. model.logit_scale=50 test_dataloader.num_workers=0')
    parser.add_argument('--show-dir', help='also save a visualisation of every prediction in this folder')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help="'pytorch' under torchrun (dist_test.sh)")
    parser.add_argument('--save-preds', metavar='DIR',
                        help='save every label map in DIR; running the same command again reuses them (resume)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))  # torch.distributed.launch passes it as an argument
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.save_preds:
        args.cfg_options['model.prediction_dir'] = args.save_preds
    evaluate(args.config, work_dir=args.work_dir, checkpoint=args.checkpoint, vfm_checkpoint=args.vfm_checkpoint,
             cfg_options=args.cfg_options, show_dir=args.show_dir, launcher=args.launcher,
             progress=not args.no_progress)


if __name__ == '__main__':
    import sys

    from sclip_toolkit.errors import run_cli
    sys.exit(run_cli(main, 'eval.py'))
