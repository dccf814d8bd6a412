"""Which run `trainer.resume` continues: the same MLflow run and output folder, so that a run
killed by SIGKILL (out of memory, a preempted machine) continues where it stopped.

`trainer.resume=true` picks the newest unfinished run of the experiment whose composed config
(apart from `trainer.resume`) has the same digest, i.e. the same command; `trainer.resume=<run
id>` names the run. A run without a checkpoint yet starts again from epoch 0 in that run.
"""

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from cnnlab import tracking
from cnnlab.config import TrainConfig
from cnnlab.errors import ConfigError
from cnnlab.training.checkpoints import STATE_FILE

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
