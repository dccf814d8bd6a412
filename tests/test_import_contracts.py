"""The layers of DESIGN.md, held by import-linter's contracts in pyproject.toml, and a bottom
of the house that imports without side effects."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(src: Path = ROOT / "src") -> subprocess.CompletedProcess:
    """`lint-imports` with the project's contracts, on the packages found in `src`."""
    env = {**os.environ, "PYTHONPATH": str(src)}  # ahead of the editable install
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold():
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# (module of src/cnnlab, the import added to it, what lint-imports reports)
BREAKS = {
    "back-arrow-to-the-top": (
        "errors.py",
        "import cnnlab.tracking",
        "cnnlab.errors is not allowed to import cnnlab.tracking",
    ),
    "back-arrow-one-layer-up": (
        "viz/curves.py",
        "import cnnlab.visualize",
        "cnnlab.viz is not allowed to import cnnlab.visualize",
    ),
    "cycle-inside-a-package": (
        "tracking/store.py",
        "import cnnlab.tracking.runs",
        "No cycles are allowed in cnnlab.tracking",
    ),
    "models-import-config": (
        "models/lenet.py",
        "import cnnlab.config",
        "cnnlab.models is not allowed to import cnnlab.config",
    ),
    "reference-imports-hydra": (
        "reference/pool.py",
        "import hydra",
        "cnnlab.reference is not allowed to import hydra",
    ),
}


@pytest.mark.parametrize(("module", "added_import", "reported"), BREAKS.values(), ids=BREAKS)
def test_a_back_arrow_or_a_cycle_breaks_a_contract(tmp_path, module, added_import, reported):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    with (src / "cnnlab" / module).open("a") as file:
        file.write(f"\n{added_import}  # noqa\n")
    result = lint_imports(src)
    assert result.returncode == 1, result.stdout + result.stderr
    assert reported in result.stdout


def test_the_reference_layers_and_models_import_neither_hydra_nor_the_config_package():
    code = (
        "import sys, cnnlab.reference, cnnlab.layers, cnnlab.models; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'hydra' or m.startswith('cnnlab.config')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert result.stdout.strip() == "[]"
