"""Where a training run writes: Hydra's run folder (or a fresh one outside Hydra), its log file,
and a scratch folder and store of its own for a non-chief worker of a multi-worker run."""

import dataclasses
import time
from pathlib import Path

from cnnlab import tracking
from cnnlab.config import TrainConfig
from cnnlab.errors import ConfigError
from cnnlab.training.strategy import is_chief, worker_task


def output_folder(output_dir: Path | None, cfg: TrainConfig) -> tuple[Path, TrainConfig]:
    """`output_dir`, else Hydra's run folder (or a fresh one); a non-chief worker of a
    multi-worker run records in a scratch folder and store inside it (`record_elsewhere`)."""
    output_dir = Path(output_dir or default_output_dir())
    return (output_dir, cfg) if is_chief() else record_elsewhere(output_dir, cfg)


def default_output_dir() -> Path:
    """Hydra's run dir under `@hydra.main`; a fresh timestamped folder when called in-process."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(
        "outputs", "runs", time.strftime("%Y-%m-%d"), tracking.run_name(time.strftime("%H-%M-%S"))
    )


def hydra_log_file() -> Path | None:
    """The log file Hydra writes for this job (None when called in-process, outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    config = HydraConfig.get()
    return Path(config.runtime.output_dir, f"{config.job.name}.log")


def record_elsewhere(output_dir: Path, cfg: TrainConfig) -> tuple[Path, TrainConfig]:
    """A non-chief worker of a multi-worker run trains like the chief but records its copy of the
    run into a scratch store and folder of its own (the chief's run is the one to look at); the
    chief alone touches the configured store (two processes creating one SQLite store race)."""
    kind, index = worker_task()
    scratch = output_dir / f"{kind}-{index}"
    prepare_output_dir(scratch)
    folder = scratch.resolve()
    store = dataclasses.replace(
        cfg.tracking,
        uri=f"sqlite:///{folder}/mlflow.db",
        artifact_location=f"{folder}/mlartifacts",
    )
    return scratch, dataclasses.replace(cfg, tracking=store)


def prepare_output_dir(output_dir: Path) -> None:
    """Create the run's folder and its checkpoints folder, or fail now in one line."""
    try:
        (output_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        probe = output_dir / "checkpoints" / ".writable"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigError(
            f"output folder {output_dir} is invalid: expected a writable folder ({error.strerror})"
        ) from error
