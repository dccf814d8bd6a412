"""Set-up that every process needs has one home: MLflow's store in `cnnlab.tracking.use_store`,
TensorFlow's log level in `cnnlab.native_logs.quiet_by_default`."""

import os
import re
from pathlib import Path

import pytest

from cnnlab import native_logs

ROOT = Path(__file__).resolve().parents[1]
CODE = [*ROOT.glob("src/**/*.py"), *ROOT.glob("pipelines/*.py"), *ROOT.glob("benchmarks/*.py")]


def files_matching(pattern: str) -> list[str]:
    return sorted(
        str(path.relative_to(ROOT)) for path in CODE if re.search(pattern, path.read_text())
    )


def test_only_tracking_store_points_mlflow_at_a_store():
    assert files_matching(r"set_tracking_uri\(") == ["src/cnnlab/tracking/store.py"]


def test_only_native_logs_sets_tensorflows_log_level():
    assigned = r"environ(\.setdefault\(|\[)\s*[\"']TF_CPP_MIN_LOG_LEVEL"
    assert files_matching(assigned) == ["src/cnnlab/native_logs.py"]


@pytest.mark.parametrize(("chosen", "kept"), [(None, "2"), ("0", "0"), ("3", "3")])
def test_quiet_by_default_keeps_a_level_the_user_chose(monkeypatch, chosen, kept):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    if chosen is not None:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", chosen)
    native_logs.quiet_by_default()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == kept
