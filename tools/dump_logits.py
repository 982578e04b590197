"""Save a config's seg_logits (classes x H x W, float32, original image size) for one image: the parity array.

    python tools/dump_logits.py configs/sclip/sclip_voc21.py IMAGE OUT.npy [--checkpoint FILE]
        [--vfm-checkpoint FILE] [--sam-checkpoint FILE] [--sam-refine] [--pred OUT_PRED.npy] [--device cpu] [--cfg-options key=value ...]
"""
from __future__ import annotations

import argparse

import numpy as np

from sclip_toolkit.apis import build_segmentor, run_segmentor
from sclip_toolkit.config import CfgOptionsAction, load_config


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('config')
    ap.add_argument('image')
    ap.add_argument('out', help='.npy file for seg_logits (C, H, W) float32')
    ap.add_argument('--checkpoint', help='CLIP checkpoint file (OpenAI layout); overrides model.clip')
    ap.add_argument('--vfm-checkpoint', help='vision foundation model checkpoint (ProxyCLIP)')
    ap.add_argument('--sam-checkpoint', help="SAM checkpoint in segment-anything's layout (Trident)")
    ap.add_argument('--sam-refine', action='store_true', help="Trident: refine the masks with SAM's decoder")
    ap.add_argument('--pred', help='also save pred_sem_seg (H, W) uint8 here')
    ap.add_argument('--device', default=None, help='cpu, cuda, cuda:1 (default: cuda if available)')
    ap.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction, metavar='KEY=VALUE',
                    help='override config entries, e.g. model.prob_thd=0.2')
    args = ap.parse_args(argv)

    cfg = load_config(args.config, args.checkpoint, args.vfm_checkpoint, args.cfg_options, args.sam_checkpoint,
                      args.sam_refine)
    cfg.model.keep_scores = True  # the full-resolution class scores are what this tool saves
    model = build_segmentor(cfg, args.device)
    sample = run_segmentor(model, cfg, [args.image])[0]
    logits = sample.seg_logits.data.float().cpu().numpy()
    np.save(args.out, logits.astype(np.float32))
    if args.pred:
        np.save(args.pred, sample.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8))
    print(f'saved seg_logits {logits.shape} to {args.out}')


if __name__ == '__main__':
    import sys

    from sclip_toolkit.errors import run_cli
    sys.exit(run_cli(main, 'dump_logits.py'))
