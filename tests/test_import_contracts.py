"""The layers of DESIGN.md, held by import-linter's contracts in pyproject.toml."""

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
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "added_import", "reported"),
    [
        (
            "errors.py",
            "import cnnlab.tracking",
            "cnnlab.errors is not allowed to import cnnlab.tracking",
        ),
        (
            "viz/curves.py",
            "import cnnlab.visualize",
            "cnnlab.viz is not allowed to import cnnlab.visualize",
        ),
        (
            "tracking/store.py",
            "import cnnlab.tracking.runs",
            "No cycles are allowed in cnnlab.tracking",
        ),
    ],
    ids=["back-arrow-to-the-top", "back-arrow-one-layer-up", "cycle-inside-a-package"],
)
def test_a_back_arrow_or_a_cycle_breaks_a_contract(tmp_path, module, added_import, reported):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    with (src / "cnnlab" / module).open("a") as file:
        file.write(f"\n{added_import}  # noqa\n")
    result = lint_imports(src)
    assert result.returncode == 1, result.stdout + result.stderr
    assert reported in result.stdout
