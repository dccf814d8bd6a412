"""Which run `trainer.resume` continues: the same MLflow run and output folder, so that a run
killed by SIGKILL (out of memory, a preempted machine) continues where it stopped.

`trainer.resume=true` picks the newest unfinished run of the experiment whose composed config
(apart from `trainer.resume`) has the same digest, i.e. the same command; `trainer.resume=<run
id>` names the run. A run without a checkpoint yet starts again from epoch 0 in that run; one
with a checkpoint gets its state back, logs the epochs the killed process did not, and (when
deterministic) draws the same batches from then on as an uninterrupted run.
"""

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf
from omegaconf import OmegaConf

from cnnlab import tracking
from cnnlab.config import TrainConfig
from cnnlab.errors import ConfigError
from cnnlab.training.checkpoints import STATE_FILE, Stateful, load_state

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumePoint:
    run_id: str
    run_name: str
    output_dir: Path

    @property
    def state_path(self) -> Path:
        return self.output_dir / "checkpoints" / STATE_FILE


def config_digest(cfg: TrainConfig) -> str:
    """A short hash of the composed config without `trainer.resume`: equal for the same command."""
    container = OmegaConf.to_container(OmegaConf.structured(cfg), enum_to_str=True)
    container["trainer"].pop("resume", None)
    return hashlib.sha256(OmegaConf.to_yaml(OmegaConf.create(container)).encode()).hexdigest()[:16]


def find_resume_point(cfg: TrainConfig) -> ResumePoint | None:
    """The run to continue, or None for a fresh run (also when `resume=true` finds nothing)."""
    resume = cfg.trainer.resume
    if resume is False or resume is None:
        return None
    if resume is True:
        run = tracking.latest_unfinished_run(
            cfg.tracking, {"kind": "train", "config_digest": config_digest(cfg)}
        )
        if run is None:
            log.info("trainer.resume=true: no unfinished run of this config; starting a new run")
            return None
    else:
        try:
            run = tracking.get_run(str(resume), cfg.tracking)
        except Exception as error:  # MLflow's own error types; one line for the user
            raise ConfigError(
                f"trainer.resume={resume} is invalid: expected true, false or the id of a run "
                f"in {tracking.tracking_uri(cfg.tracking)}"
            ) from error
        if run.info.status == "FINISHED":
            raise ConfigError(
                f"trainer.resume={resume} is invalid: expected an unfinished run, it ended FINISHED"
            )
    return ResumePoint(run.info.run_id, run.info.run_name, Path(run.data.tags["output_dir"]))


def restore_epochs(
    state_path: Path, model: keras.Model, stateful: dict[str, Stateful], run_id: str
) -> tuple[int, dict[str, list[float]]]:
    """Put the checkpointed state back into `model`, the RNGs and the `stateful` callbacks;
    return the number of epochs done and their logs, each logged once in the run."""
    meta = load_state(state_path, model, stateful)
    log_missing_epochs(run_id, meta["history"])
    return meta["epochs_done"], meta["history"]


def log_missing_epochs(run_id: str, history: dict[str, list[float]]) -> None:
    """Log the checkpointed epochs whose metrics the killed process did not log (it can die
    between saving the state and logging), so the run has each step exactly once."""
    logged = set(tracking.logged_steps(run_id, "loss"))
    for epoch in range(len(history.get("loss", []))):
        if epoch not in logged:
            tracking.log_metrics({k: v[epoch] for k, v in history.items()}, step=epoch)


def skip_trained_epochs(
    batches: tf.data.Dataset, epochs_done: int, steps: int, deterministic: bool
) -> tf.data.Dataset:
    """A deterministic resumed run first draws the batches of the `epochs_done` epochs of
    `steps` batches it already trained on, so that every later epoch sees the same shuffled,
    augmented batches as in an uninterrupted run (costs one input-pipeline pass per epoch)."""
    if epochs_done and deterministic:
        return batches.skip(epochs_done * steps)
    return batches
