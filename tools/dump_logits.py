"""Save a config's seg_logits (classes x H x W, float32, original image size) for one image: the parity array.

    python tools/dump_logits.py configs/sclip/sclip_voc21.py IMAGE OUT.npy [--checkpoint FILE]
        [--vfm-checkpoint FILE] [--pred OUT_PRED.npy] [--device cpu] [--cfg-options key=value ...]
"""
from __future__ import annotations

import argparse

import numpy as np

from sclip_toolkit.apis import build_segmentor, run_segmentor
from sclip_toolkit.cli.args import add_model_options, cfg_options
from sclip_toolkit.config import load_config
from sclip_toolkit.io_utils import atomic_save


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('config')
    ap.add_argument('image')
    ap.add_argument('out', help='.npy file for seg_logits (C, H, W) float32')
    ap.add_argument('--pred', help='also save pred_sem_seg (H, W) uint8 here')
    add_model_options(ap, method=False)
    args = ap.parse_args(argv)

    cfg = load_config(args.config, args.checkpoint, args.vfm_checkpoint, cfg_options(args))
    cfg.model.keep_scores = True  # the full-resolution class scores are what this tool saves
    model = build_segmentor(cfg, args.device)
    sample = run_segmentor(model, cfg, [args.image])[0]
    logits = sample.seg_logits.data.float().cpu().numpy()
    atomic_save(args.out, lambda fh: np.save(fh, logits.astype(np.float32)))
    if args.pred:
        atomic_save(args.pred, lambda fh: np.save(fh, sample.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)))
    print(f'saved seg_logits {logits.shape} to {args.out}')


if __name__ == '__main__':
    import sys

    from sclip_toolkit.cli import run_cli
    sys.exit(run_cli(main, 'dump_logits.py'))
