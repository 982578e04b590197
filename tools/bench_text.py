"""Cold text-embedding time: every prompt at 77 tokens, length-grouped, and with shared template prefixes.

    python tools/bench_text.py                      # VOC21 (56 names x 80 templates), then ADE20K-847 (shared only)
    python tools/bench_text.py --skip-full --threads 2
    python tools/bench_text.py --vocab configs/classnames/cls_coco_object.txt --no-ade

Times run from the names to the (Q, E) class embeddings, tokenization included, on a random text tower of
``--preset`` (full-size ViT-B/16 by default: width 512, 12 layers; the cost does not depend on the weights). Wall
and process CPU seconds are printed, since on a shared machine wall time also counts waiting for the cores. Prints
the tokens each way runs, and the largest difference from the length-grouped result.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch

from sclip_toolkit.bench.profiling import scratch_dir
from sclip_toolkit.models.text import build_text_classifier, flatten_names, load_templates, parse_class_names
from sclip_toolkit.models.text.shared_prefix import build_text_classifier_shared_prefix, plan_prompts

ADE847 = 'configs/classnames/cls_ade20k847__proxyclip.txt'


def _separator(path: str) -> str:
    return '; ' if '__proxyclip' in path else ',' if '__clearclip' in path else ', '


def timed(fn: Callable[[], torch.Tensor], device: torch.device) -> Tuple[torch.Tensor, float, float]:
    """Result, wall seconds and process CPU seconds of one call."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - wall, time.process_time() - cpu


@torch.no_grad()
def full_context_classifier(clip, names: List[str], templates: List[str], batch_size: int = 256) -> torch.Tensor:
    """(Q, E) class embeddings with every prompt encoded at the full 77-token context, as the references do."""
    tokens = clip.tokenizer()([t.replace('{}', n) for n in names for t in templates])
    emb = torch.cat([clip.encode_text(tokens[i:i + batch_size].to(clip.device))
                     for i in range(0, len(tokens), batch_size)])
    emb = emb / emb.norm(dim=-1, keepdim=True)
    emb = emb.view(len(names), len(templates), -1).mean(dim=1)
    return emb / emb.norm(dim=-1, keepdim=True)


def _row(label: str, wall: float, cpu: float, note: str = '') -> None:
    print(f'{label:<44}{wall:8.2f} s wall {cpu:8.2f} s cpu  {note}')


def run_vocabulary(clip, names: List[str], templates: List[str], label: str, full: bool, grouped: bool
                   ) -> Dict[str, float]:
    """Time the three ways on one vocabulary; keys '<way>_s' (wall), '<way>_cpu_s', token counts, max diff."""
    device = clip.device
    res: Dict[str, float] = {}
    plan = plan_prompts(clip.tokenizer(), names, templates)
    res['tokens_full'], res['tokens_grouped'], res['tokens_shared'] = map(float, plan.token_counts())
    res['shared_prompts'] = float(plan.shared.float().mean())
    print(f'{label}: {len(names)} names x {len(templates)} templates = {len(plan.tokens)} prompts; tokens run: '
          f'{res["tokens_full"]:.0f} at 77, {res["tokens_grouped"]:.0f} length-grouped, {res["tokens_shared"]:.0f} '
          f'shared-prefix ({1 - res["tokens_shared"] / res["tokens_full"]:.1%} / '
          f'{1 - res["tokens_shared"] / res["tokens_grouped"]:.1%} saved); {res["shared_prompts"]:.1%} of prompts '
          f'reuse their prefix')
    new, res['shared_s'], res['shared_cpu_s'] = timed(
        lambda: build_text_classifier_shared_prefix(clip, names, templates), device)
    if grouped:
        ref, res['grouped_s'], res['grouped_cpu_s'] = timed(lambda: build_text_classifier(clip, names, templates),
                                                            device)
        res['max_abs_diff'] = float((new - ref).abs().max())
    if full:
        ref77, res['full_s'], res['full_cpu_s'] = timed(lambda: full_context_classifier(clip, names, templates),
                                                        device)
        res.setdefault('max_abs_diff', float((new - ref77).abs().max()))
    if full:
        _row('  (a) every prompt at 77 tokens', res['full_s'], res['full_cpu_s'])
    if grouped:
        _row('  (b) length-grouped (build_text_classifier)', res['grouped_s'], res['grouped_cpu_s'],
             f'{res["full_s"] / res["grouped_s"]:.1f}x vs (a) wall' if full else '')
    vs = []
    if full:
        vs.append(f'{res["full_s"] / res["shared_s"]:.1f}x vs (a) wall, {res["full_cpu_s"] / res["shared_cpu_s"]:.1f}x '
                  f'cpu')
    if grouped:
        vs.append(f'{res["grouped_s"] / res["shared_s"]:.1f}x vs (b) wall')
    _row('  (c) shared prefix', res['shared_s'], res['shared_cpu_s'], '; '.join(vs))
    if 'max_abs_diff' in res:
        print(f'  max |(c) - {"(b)" if grouped else "(a)"}| = {res["max_abs_diff"]:.2e}')
    return res


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--vocab', default='configs/classnames/cls_voc21.txt', help='class-name file (default VOC21)')
    ap.add_argument('--templates', default='openai_imagenet_80', help='template set or file')
    ap.add_argument('--preset', default='ViT-B/16', help='random model size: ViT-B/16, ViT-L/14, tiny')
    ap.add_argument('--checkpoint', help='CLIP weights file instead of a random model')
    ap.add_argument('--threads', type=int, default=2, help='torch CPU threads (default 2)')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--skip-full', action='store_true', help='skip (a), every prompt at 77 tokens (minutes on CPU)')
    ap.add_argument('--no-ade', action='store_true', help='skip the ADE20K-847 run')
    ap.add_argument('--ade-grouped', action='store_true', help='also time (b) on ADE20K-847')
    ap.add_argument('--max-names', type=int, help='use only the first names (quick runs)')
    args = ap.parse_args(argv)

    from sclip_toolkit.models import CLIPBackbone
    from sclip_toolkit.testing import write_random_clip

    torch.set_num_threads(args.threads)
    checkpoint = args.checkpoint
    if checkpoint is None:
        checkpoint = str(write_random_clip(scratch_dir('sclip_bench_text_') / 'clip.pt',
                                           preset=args.preset))
    clip = CLIPBackbone(checkpoint=checkpoint, final_attn='vanilla').to(args.device)
    templates = load_templates(args.templates)
    text = clip.model.transformer
    print(f'text tower: width {text.width}, {text.layers} layers ({args.checkpoint or "random " + args.preset}); '
          f'{args.device}, {torch.get_num_threads()} threads')
    results = {}
    names = flatten_names(parse_class_names(args.vocab, _separator(args.vocab), allow_duplicates=True))[0]
    results['vocab'] = run_vocabulary(clip, names[:args.max_names], templates, Path(args.vocab).stem,
                                      full=not args.skip_full, grouped=True)
    if not args.no_ade:
        names = flatten_names(parse_class_names(ADE847, _separator(ADE847), allow_duplicates=True))[0]
        results['ade847'] = run_vocabulary(clip, names[:args.max_names], templates, 'ADE20K-847', full=False,
                                           grouped=args.ade_grouped)
    return results


if __name__ == '__main__':
    main()
