"""tools/bench_text.py times the three ways of encoding a vocabulary on a tiny random model."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_text_reports_times_tokens_and_agreement(capsys):
    spec = importlib.util.spec_from_file_location('bench_text_tool', ROOT / 'tools' / 'bench_text.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    res = module.main(['--preset', 'tiny', '--max-names', '4', '--threads', '1', '--ade-grouped'])
    out = capsys.readouterr().out
    for part in ('vocab', 'ade847'):
        r = res[part]
        assert r['tokens_shared'] < r['tokens_grouped'] < r['tokens_full'], r
        assert r['shared_s'] > 0 and r['grouped_s'] > 0 and r['max_abs_diff'] < 1e-5, r
    assert res['vocab']['full_s'] > 0 and 'full_s' not in res['ade847']
    for label in ('(a) every prompt at 77 tokens', '(b) length-grouped', '(c) shared prefix', 'ADE20K-847'):
        assert label in out
