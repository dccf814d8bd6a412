"""What the pipelines share: Hydra's command line with one-line errors and a non-zero exit.

A pipeline's `__main__` calls `run(main)`. Hydra then raises instead of printing its own
multi-line report (HYDRA_FULL_ERROR), and `run` turns every error the user can fix while
composing (a bad group option, a value of the wrong type, an unknown key) into one line
`error: ...` and exit 2; `one_line_errors` does the same for errors inside the task (an
out-of-range value, bad data, impossible geometry). Nothing here imports TensorFlow: `--help` and bad overrides answer
before the heavy imports that the task function does.
"""

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn
from hydra.errors import (
    ConfigCompositionException,
    MissingConfigException,
    OverrideParseException,
)
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, read_write
from omegaconf.errors import OmegaConfBaseException

from cnnlab.config import CONF_DIR, is_schema, register_schemas, to_object
from cnnlab.config.messages import omegaconf_error_message, unknown_option_message
from cnnlab.config.sweep import Multirun, new_study_name
from cnnlab.errors import CnnlabError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def group_options(group: str, conf_dir: Path = CONF_DIR) -> list[str]:
    """The options of config group `group`: its YAML files, without the schemas."""
    return sorted(p.stem for p in (conf_dir / group).glob("*.yaml") if not is_schema(p.stem))


def describe_groups(*groups: str) -> str:
    """`${cnnlab_groups:data,model}` in a help template: one line per group with its options."""
    lines = []
    for group in groups:
        options = group_options(group)
        if options:
            lines.append(f"  {group + ':':<11} {', '.join(options)}")
    return "\n".join(lines)


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("cnnlab_groups"):
        OmegaConf.register_new_resolver("cnnlab_groups", describe_groups)


def own_help(config_name: str) -> str | None:
    """The `hydra.help.template` of `conf/<config_name>.yaml`, rendered without composing.

    Hydra's `--help` formats every config group of every installed plugin (launchers,
    sweepers) before it looks at the template, which takes seconds; this reads the template
    and the group folders only. None when the config has no template of its own.
    """
    path = CONF_DIR / f"{config_name}.yaml"
    template = (
        OmegaConf.select(OmegaConf.load(path), "hydra.help.template") if path.exists() else None
    )
    return str(template) if template else None


def run(main: Callable[[], Any], config_name: str | None = None) -> None:
    """Run a `@hydra.main` function; user errors exit 2 with one line, Ctrl-C exits 130.

    With `config_name`, `--help` prints that config's own help at once (`own_help`)."""
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # raise to us instead of printing a report
    register_resolvers()
    register_schemas()  # the schemas that conf/'s YAML files extend
    if config_name and {"--help", "-h"} & set(sys.argv[1:]):
        text = own_help(config_name)
        if text is not None:
            print(text)
            return
    try:
        main()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:
        message = user_error_message(error)
        if message is None:
            raise
        sys.stderr.write(f"error: {message}\n")
        sys.exit(EXIT_USER_ERROR)


def in_multirun_job() -> bool:
    """True inside one job of a Hydra `--multirun` (a sweep), False in a single run."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def one_line_errors(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Decorate a `@hydra.main` task: in a single run a user error exits 2 with one line, before
    Hydra adds its own report. In a sweep's job the line goes to the job's log and the error
    propagates: Hydra records the job as failed, the trial ends FAILED and the sweep goes on
    (an exit here would end the whole multirun)."""

    @functools.wraps(task)
    def guarded(cfg: DictConfig) -> Any:
        try:
            return task(cfg)
        except Exception as error:
            message = user_error_message(error)
            if message is None:
                raise
            if in_multirun_job():
                logging.getLogger(task.__module__).error("error: %s", message)
                raise
            sys.stderr.write(f"error: {message}\n")
            sys.exit(EXIT_USER_ERROR)

    return guarded


def user_error_message(error: BaseException) -> str | None:
    """One line for an error the user can fix, or None for a bug (which keeps its traceback)."""
    if isinstance(error, CnnlabError):
        return str(error)
    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        return unknown_option_message(error.missing_cfg_file, error.options or [])
    cause = next((e for e in causes(error) if isinstance(e, OmegaConfBaseException)), None)
    if cause is not None and getattr(cause, "full_key", None):
        return omegaconf_error_message(cause)
    if isinstance(error, OverrideParseException | ConfigCompositionException):
        return " ".join(str(error).split())
    return None


class SweepTracking(Callback):
    """`hydra.callbacks.mlflow_sweep` of conf/train.yaml: Hydra's callback for the MLflow parent
    run of a multirun (`cnnlab.tracking.sweeps.SweepParentRun`, imported when a multirun starts),
    called with the typed `Multirun` read from Hydra's config. Hydra instantiates its callbacks in
    every run, and importing the tracking package (MLflow, seconds) would delay a single run's
    answer to a bad override; in a single run the parent-run callback has nothing to do."""

    def __init__(self) -> None:
        self.sweep: Any = None  # the SweepParentRun of a multirun

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from cnnlab.tracking.sweeps import SweepParentRun

        name_new_study(config)
        self.sweep = SweepParentRun()
        self.sweep.on_multirun_start(multirun_of(config))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.sweep is not None:
            self.sweep.on_multirun_end(multirun_of(config))

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if self.sweep is not None:
            self.sweep.on_job_start(multirun_of(config))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if self.sweep is not None:
            self.sweep.on_job_end(multirun_of(config), job_return)


def name_new_study(config: DictConfig) -> None:
    """Name a new Optuna study before the sweeper is built, in `sweep.study_name`: the sweeper
    reads it from the same config, so the study and the parent run's tag agree."""
    if "study_name" in config.hydra.sweeper and config.sweep.study_name is None:
        with read_write(config.sweep):
            config.sweep.study_name = new_study_name(config.hydra.job.name)


def multirun_of(config: DictConfig) -> Multirun:
    """What the sweep's bookkeeping reads of Hydra's config of a multirun or of one of its jobs."""
    return Multirun(
        tracking=to_object(config.tracking),
        sweep=to_object(config.sweep),
        overrides=OmegaConf.to_container(config.hydra.overrides.task),
        hydra_overrides=OmegaConf.to_container(config.hydra.overrides.hydra),
        choices=dict(config.hydra.runtime.choices),
        sweeper=OmegaConf.to_container(config.hydra.sweeper, resolve=True),
        launcher=str(config.hydra.launcher._target_),
        sweep_dir=str(config.hydra.sweep.dir),
    )


def causes(error: BaseException):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__
