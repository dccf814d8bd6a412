"""The command line as a user meets it: cnnlab's own help, answered without TensorFlow, and a
training run's console."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from cnnlab.config import register_schemas
from cnnlab.native_logs import PREAMBLE, is_shown

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


def test_tensorflow_start_up_lines_are_filtered_by_their_severity():
    info = "I0000 00:00:1796099336.895666   17994 port.cc:153] oneDNN custom operations are on.\n"
    error = "E0000 00:00:1796099341.463428   17994 some.cc:52] a real failure\n"
    no_driver = "E0000 00:00:1796099341.463428   17994 cuda_platform.cc:52] failed call to cuInit\n"
    python_warning = "UserWarning: something the user should see\n"
    assert [is_shown(line, 2) for line in (info, error, no_driver, python_warning)] == [
        False,
        True,
        False,
        True,
    ]
    assert all(is_shown(line, 0) for line in (info, error, no_driver, python_warning))
    assert not is_shown(PREAMBLE + " are written to STDERR\n", 2)


def test_default_training_prints_its_progress_and_no_warning(tmp_path):
    """`make train`'s console on a machine where nothing is prepared yet: the embedded digits
    (TFDS) and matplotlib's font cache are built in this run."""
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "matplotlib"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [
            sys.executable,
            "pipelines/train.py",
            "debug=fast",
            f"data.data_dir={tmp_path / 'tfds'}",
            f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"run lenet5-digits-\w+: digits: \(28, 28, 1\) images", output)
    assert re.search(r"test_accuracy \d\.\d+", output)
    noise = re.compile(r"warn|traceback|error|downloading|fontManager|\d+%\||━", re.IGNORECASE)
    assert [line for line in output.splitlines() if noise.search(line)] == []


@pytest.mark.parametrize("pipeline", sorted(p.stem for p in (ROOT / "pipelines").glob("*.py")))
def test_every_pipeline_logs_with_cnnlabs_logging_config(pipeline):
    """Each pipeline's root config selects conf/hydra/*_logging/cnnlab.yaml, which turns the
    libraries' routine INFO lines (MLflow's system metrics, absl, matplotlib) down to warnings."""
    match = re.search(r'config_name="(\w+)"', (ROOT / "pipelines" / f"{pipeline}.py").read_text())
    register_schemas()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(match.group(1), return_hydra_config=True)
    for logging_cfg in (cfg.hydra.job_logging, cfg.hydra.hydra_logging):
        assert logging_cfg.loggers.matplotlib.level == "WARNING"
    assert cfg.hydra.job_logging.loggers["mlflow.system_metrics"].level == "WARNING"
