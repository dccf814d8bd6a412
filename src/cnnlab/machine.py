"""The machine a measurement ran on: CPU model and vector units, cores, and whether TensorFlow
runs its oneDNN kernels. A timing or a ratio holds for the machine it names: TensorFlow's native
convolution is oneDNN on CPUs with AVX-512-class features and its own (Eigen) kernels on the
others (or with TF_ENABLE_ONEDNN_OPTS=0)."""

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def cpuinfo() -> dict[str, str]:
    """The first processor's entries of /proc/cpuinfo ({} where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    first = text.split("\n\n")[0]
    return dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in first.splitlines())
    )


def avx512_features() -> list[str]:
    """The CPU's AVX-512 flags (avx512f, avx512_bf16, ...); empty on an AVX2-only CPU."""
    return sorted(flag for flag in cpuinfo().get("flags", "").split() if flag.startswith("avx512"))


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process: on by default on CPUs with
    AVX-512-class features, off with TF_ENABLE_ONEDNN_OPTS=0 (or with no TensorFlow)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return False
    return bool(_pywrap_util_port.IsMklEnabled())


def package_version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def describe() -> str:
    """One line for a benchmark's header: CPU model, AVX-512, cores, TensorFlow and oneDNN."""
    features = avx512_features()
    avx512 = "AVX-512" + (" with AVX512_BF16" if "avx512_bf16" in features else "")
    cpu = cpuinfo().get("model name", "unknown CPU")
    return (
        f"{cpu} ({avx512 if features else 'AVX2, no AVX-512'}), {os.cpu_count()} cores; "
        f"TensorFlow {package_version('tensorflow')}, oneDNN {'on' if onednn_enabled() else 'off'}"
    )
