"""One definition each for the scales, the devices, the model settings and the network's 4-pixel
grid: every other module imports it, so that adding a scale or a device is one edit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from carsr_gui import devices, engine, model_choice, tiling

PACKAGE = Path(__file__).parent.parent / "carsr_gui"
MODULES = sorted(PACKAGE.rglob("*.py"))
#: Each list and the module that defines it.
SOURCES = {
    "SCALES": (engine, engine.SCALES),
    "DEVICES": (devices, devices.DEVICES),
    "MODEL_SETTINGS": (model_choice, model_choice.MODEL_SETTINGS),
}


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def literal_values(node: ast.AST) -> set | None:
    """The values a tuple, list, set or dict's keys spell out in constants, else None."""
    items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
    if not items or not all(isinstance(i, ast.Constant) for i in items):
        return None
    return {i.value for i in items}


def assigned_names(module: ast.Module) -> set[str]:
    return {
        target.id
        for node in ast.walk(module)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }


@pytest.mark.parametrize("name", SOURCES)
def test_each_list_is_spelled_out_in_its_own_module_only(name):
    home, value = SOURCES[name]
    spelled = []
    for path in MODULES:
        module = tree(path)
        if path == Path(home.__file__):
            continue
        if name in assigned_names(module):
            spelled.append(f"{path.name}: {name} = ...")
        for node in ast.walk(module):
            if literal_values(node) == set(value):
                spelled.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:60]}")
    assert spelled == [], f"import {name} from {home.__name__} instead"


def test_the_grid_is_tilings_alone():
    """No ``x // 4`` or ``x % 4`` outside :mod:`carsr_gui.tiling`: the code's grid is
    :data:`carsr_gui.tiling.GRID` (``4 * h`` is a scale, and the collector's ``5 // 4`` a quarter
    more, not the grid)."""
    assert tiling.GRID == 4
    bare = []
    for path in MODULES:
        if path.name in {"tiling.py", "garbage.py"}:
            continue
        for node in ast.walk(tree(path)):
            if (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.FloorDiv | ast.Mod)
                and isinstance(node.right, ast.Constant)
                and node.right.value == tiling.GRID
            ):
                bare.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id in {"GRID", "ALIGN"} for t in node.targets
            ):
                bare.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert bare == [], "use carsr_gui.tiling.GRID"
