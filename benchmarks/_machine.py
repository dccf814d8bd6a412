"""What a benchmark ran on: the CPU and TensorFlow's kernels (`machine()`, from
`cnnlab.machine`), and how busy OTHER processes kept the machine during a measurement, in cores
(`others_load()`).

The load average counts the benchmark's own threads (two busy TensorFlow threads on a 2-core
machine already make it 2.0), so it cannot tell an idle machine from a shared one. Instead:
the CPU time all processes used (/proc/stat's busy jiffies) minus this process's own (and
its waited-for children's) over the same interval, divided by the wall time.

    with others_load() as others:
        ...  # the measurement
    print(f"{others.cores:.2f}{busy(others.cores)}")
"""

import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cnnlab.machine import describe as machine  # noqa: F401  (the line every benchmark prints)

# Rows where other processes used more than this many cores on average are flagged BUSY.
BUSY_CORES = 0.3


def _busy_seconds() -> float:
    """CPU seconds all processes have used since boot (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU seconds of this process and its waited-for children."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


@dataclass
class OthersLoad:
    """Filled in when the `with` block ends: cores other processes used, on average."""

    cores: float = float("nan")


@contextmanager
def others_load() -> Iterator[OthersLoad]:
    result = OthersLoad()
    wall, busy_all, own = time.monotonic(), _busy_seconds(), _own_seconds()
    try:
        yield result
    finally:
        elapsed = max(time.monotonic() - wall, 1e-9)
        others = (_busy_seconds() - busy_all) - (_own_seconds() - own)
        result.cores = max(others, 0.0) / elapsed


def busy(cores: float) -> str:
    """' BUSY' when other processes used more than BUSY_CORES cores, else ''."""
    return " BUSY" if cores > BUSY_CORES else ""
