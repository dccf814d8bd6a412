"""The command line as a user meets it: cnnlab's own help, answered without TensorFlow."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_every_group_with_its_options_and_no_schemas():
    done = subprocess.run(
        [sys.executable, "pipelines/train.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    lines = {line.split(":")[0].strip(): line for line in done.stdout.splitlines() if ":" in line}
    assert "lenet5" in lines["model"] and "resnet20" in lines["model"]
    assert "sgd_nesterov" in lines["optimizer"] and "digits" in lines["data"]
    assert "schema" not in done.stdout
    assert "make sweep" in done.stdout  # the examples


def test_help_does_not_import_tensorflow():
    script = (
        "import sys, runpy; sys.argv = ['pipelines/train.py', '--help'];"
        "runpy.run_path('pipelines/train.py', run_name='__main__');"
        "print('tensorflow' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "False"
