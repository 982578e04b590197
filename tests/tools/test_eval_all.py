"""tools/eval_all.py finds its default rows: every method with per-dataset configs, none listed by hand."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_default_rows_are_the_methods_with_dataset_configs():
    spec = importlib.util.spec_from_file_location('eval_all_tool', ROOT / 'tools' / 'eval_all.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    methods = module.evaluable_methods()
    with_configs = sorted(p.name for p in (ROOT / 'configs').iterdir()
                          if p.is_dir() and not p.name.startswith('_') and p.name != 'classnames')
    assert methods == with_configs
    assert {'resclip', 'rfclip', 'corrclip', 'sclip'} <= set(methods) and 'vanilla' not in methods
