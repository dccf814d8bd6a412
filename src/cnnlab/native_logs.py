"""TensorFlow's start-up notices, filtered to the level that `TF_CPP_MIN_LOG_LEVEL` asks for.

TensorFlow 2.21 writes its import-time notices (oneDNN custom ops, CUDA drivers not found)
through absl before absl's logging is initialized, so `TF_CPP_MIN_LOG_LEVEL` does not hide
them. `import_tensorflow` imports TensorFlow and finds its devices with the process's stderr
(file descriptor 2, where the C++ code writes) captured, then replays the lines at or above
the level; lines that are not TensorFlow's native log lines (Python warnings, tracebacks) are
always replayed.
"""

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

SEVERITIES = "IWEF"  # absl's info, warning, error, fatal: TF_CPP_MIN_LOG_LEVEL 0-3
# Errors only by default: TensorFlow's info and warning lines (no CUDA driver, oneDNN in use)
# would bury a run's results.
DEFAULT_LEVEL = "2"
NATIVE_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d\d")
PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"
# Errors that only say "this machine has no NVIDIA driver": the run logs its device anyway.
NO_GPU_NOTICES = ("failed call to cuInit",)


def quiet_by_default() -> None:
    """Set `TF_CPP_MIN_LOG_LEVEL` to errors only, unless the user chose a level. TensorFlow
    reads it once, when it loads: call this before the first import of TensorFlow or Keras."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", DEFAULT_LEVEL)


def import_tensorflow() -> None:
    """Import TensorFlow (and initialize its devices) without its start-up notices."""
    if "tensorflow" in sys.modules:
        return
    setting = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
    level = int(setting) if setting.isdigit() else 0  # as TensorFlow reads it: else show all
    with tempfile.TemporaryFile() as captured:
        with stderr_to(captured):
            import tensorflow as tf

            tf.config.list_physical_devices()
        captured.seek(0)
        lines = captured.read().decode(errors="replace").splitlines(keepends=True)
    sys.stderr.writelines(line for line in lines if is_shown(line, level))


def is_shown(line: str, level: int) -> bool:
    """Whether a captured stderr line passes `TF_CPP_MIN_LOG_LEVEL=level`."""
    if line.startswith(PREAMBLE):
        return level == 0
    match = NATIVE_LINE.match(line)
    if match is None:
        return True
    if level > 0 and any(notice in line for notice in NO_GPU_NOTICES):
        return False
    return SEVERITIES.index(match[1]) >= level


@contextlib.contextmanager
def stderr_to(file: BinaryIO) -> Iterator[None]:
    """Point file descriptor 2 (C++ and Python writes alike) at `file` for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
