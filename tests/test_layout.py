"""The package's layout: short modules, every part kind a folder with its contract, no reaching into private names."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, List, Set

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'sclip_toolkit'
MAX_LINES = 300
PART_KINDS = ('attention', 'heads', 'inference', 'postprocess', 'regions', 'scoring', 'text', 'vfm')
# Measuring tools may reach into what they measure; everything else goes through public names.
EXEMPT = (PACKAGE / 'bench', ROOT / 'tools', ROOT / 'tests')


def package_modules() -> Iterator[Path]:
    yield from sorted(p for p in PACKAGE.rglob('*.py') if '_data' not in p.parts)


def checked_modules() -> Iterator[Path]:
    """The package outside bench/, and the entry-point scripts at the top level."""
    for path in [*package_modules(), *sorted(ROOT.glob('*.py'))]:
        if not any(path.is_relative_to(folder) for folder in EXEMPT):
            yield path


def is_private(name: str) -> bool:
    return name.startswith('_') and not (name.startswith('__') and name.endswith('__'))


def private_uses(path: Path) -> List[str]:
    """'line: what' for every private name the module takes from another module: imported (``from m import _x``,
    ``import m._x``), or read as an attribute of an imported name (``m._x``, ``SomeClass._x``)."""
    tree = ast.parse(path.read_text(encoding='utf-8'), str(path))
    imported: Set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                imported.add(alias.asname or alias.name)
                if is_private(alias.name) or any(is_private(part) for part in (node.module or '').split('.')):
                    found.append(f'{node.lineno}: from {"." * node.level}{node.module or ""} import {alias.name}')
        elif isinstance(node, ast.Import):
            for alias in node.names:
                imported.add(alias.asname or alias.name.split('.')[0])
                if any(is_private(part) for part in alias.name.split('.')):
                    found.append(f'{node.lineno}: import {alias.name}')
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr) and isinstance(node.value, ast.Name) \
                and node.value.id in imported:
            found.append(f'{node.lineno}: {node.value.id}.{node.attr}')
    return found


def test_no_module_of_the_package_is_longer_than_300_lines():
    long = {str(p.relative_to(ROOT)): n for p in package_modules()
            if (n := len(p.read_text(encoding='utf-8').splitlines())) > MAX_LINES}
    assert not long, f'split these modules (at most {MAX_LINES} lines): {long}'


def test_every_part_kind_is_a_folder_with_its_contract():
    models = PACKAGE / 'models'
    for kind in PART_KINDS:
        assert (models / kind / '__init__.py').is_file(), f'models/{kind}/ is not a package'
        assert not (models / f'{kind}.py').exists(), f'models/{kind}.py beside the folder models/{kind}/'
    folders = [p for p in models.iterdir() if p.is_dir() and (p / '__init__.py').is_file()]
    missing = [p.name for p in folders if not (p / 'base.py').is_file()]
    assert not missing, f'part-kind folders without a base.py (their contract): {missing}'
    assert {p.name for p in folders} >= set(PART_KINDS)


def test_no_module_outside_tools_and_bench_uses_a_private_name_of_another():
    uses = {str(p.relative_to(ROOT)): found for p in checked_modules() if (found := private_uses(p))}
    assert not uses, f'private names used across modules (make them public, or keep them in their module): {uses}'


def test_the_private_name_check_sees_imports_and_attributes(tmp_path):
    module = tmp_path / 'm.py'
    module.write_text('import os\nfrom a.b import _c, d\nimport e._f\nx = os._exit\ny = d._g\nz = self._h\n'
                      'w = os.__name__\n', encoding='utf-8')
    assert private_uses(module) == ['2: from a.b import _c', '3: import e._f', '4: os._exit', '5: d._g']
