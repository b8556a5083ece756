"""The core (model, tiling, image I/O, metrics, training, command line) imports without Qt."""

import subprocess
import sys
import tomllib
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "carsr_gui"
# Every module of the package outside gui/, except the frozen app's entry, which opens the window.
CORE = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in {"__init__", "__main__"})


def test_core_imports_no_qt():
    code = (
        "import sys\n"
        + "".join(f"import carsr_gui.{m}\n" for m in CORE)
        + "bad = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'carsr_gui.gui')))\n"
        + "print(bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_import_linter_contract_lists_every_core_module():
    cfg = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    (contract,) = cfg["tool"]["importlinter"]["contracts"]
    assert sorted(contract["source_modules"]) == sorted(f"carsr_gui.{m}" for m in CORE)
