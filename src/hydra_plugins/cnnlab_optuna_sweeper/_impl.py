"""An Optuna study driven through a Hydra launcher, batch by batch (ask, launch, tell).

Each job gets its sampled values as Hydra overrides, plus `sweep.trial` (the trial's number),
`sweep.study_name` and `sweep.storage`, so that its pruning callback can report to its trial
from any process or machine that reaches the storage.

A study outlives a sweep: rerun with its name and the sweep continues it, retrying the trials
that an interruption cut short and drawing new points (see `resumed_sampler`).
"""

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep, Transformer
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from cnnlab.checks import require_choice
from cnnlab.config import to_object
from cnnlab.config.sweep import DIRECTIONS, SWEEPER_KEYS, new_study_name
from cnnlab.errors import ConfigError
from cnnlab.tracking.sweeps import mark_trials_interrupted, require_study_idle

log = logging.getLogger(__name__)

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
JOURNAL = "journal:"


def absolute_storage(url: str) -> str:
    """Relative SQLite and journal paths made absolute: jobs may run in other folders."""
    for prefix in ("sqlite:///", JOURNAL):
        path = url[len(prefix) :]
        if url.startswith(prefix) and not path.startswith("/"):
            return prefix + str(Path(path).resolve())
    return url


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An SQLAlchemy URL (SQLite, PostgreSQL, MySQL) or `journal:<file>` (Optuna's journal)."""
    if url.startswith(JOURNAL):
        backend = optuna.storages.journal.JournalFileBackend(url[len(JOURNAL) :])
        return optuna.storages.JournalStorage(backend)
    return optuna.storages.RDBStorage(url)


def distribution(override: Override) -> BaseDistribution | None:
    """The Optuna distribution of a sweep override (`choice`, `range`, `interval`, with `log`
    and `int` tags); None for a plain value, which every trial gets as it is."""
    if not override.is_sweep_override():
        return None
    if override.is_choice_sweep() or (override.is_range_sweep() and override.value().shuffle):
        return CategoricalDistribution(
            list(override.sweep_iterator(transformer=Transformer.encode))
        )
    value = override.value()
    if isinstance(value, RangeSweep):  # Hydra's range excludes its stop, like Python's
        numbers = (value.start, value.stop, value.step)
        if any(isinstance(n, float) for n in numbers):
            return FloatDistribution(value.start, value.stop - value.step, step=value.step)
        return IntDistribution(value.start, value.stop - value.step, step=value.step)
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        if "int" in value.tags:
            return IntDistribution(int(value.start), int(value.end), log=log_scale)
        return FloatDistribution(value.start, value.end, log=log_scale)
    raise ConfigError(f"{override.input_line} is invalid: expected choice, range or interval")


def search_space(
    params: dict[str, str], arguments: Sequence[str]
) -> tuple[dict[str, BaseDistribution], list[str]]:
    """({key: distribution}, plain overrides) from `hydra.sweeper.params` and the command line
    (the command line wins for a key given in both)."""
    parser = OverridesParser.create()
    lines = [f"{key}={value}" for key, value in params.items()] + list(arguments)
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for override in parser.parse_overrides(lines):
        key = override.get_key_element()
        space.pop(key, None)
        fixed.pop(key, None)
        found = distribution(override)
        if found is not None:
            space[key] = found
        elif key.lstrip("+~") not in SWEEPER_KEYS:
            fixed[key] = override.input_line
    return space, list(fixed.values())


def resumed_sampler(spec: DictConfig, trials_so_far: int) -> optuna.samplers.BaseSampler:
    """The sampler of a study that already holds `trials_so_far` trials.

    A sampler re-created with the configured seed would draw the points of the study's first
    sweep again (RandomSampler's draws, TPE's random start-up trials) and spend the user's
    trials twice; a resumed study's sampler is seeded from the configured seed and the number
    of trials instead: reproducible, and new. TPE and the other model-based samplers read
    every finished trial from the storage either way.
    """
    seed = spec.get("seed")
    if seed is None or trials_so_far == 0:
        return instantiate(spec)
    state = np.random.SeedSequence([int(seed), trials_so_far]).generate_state(1)[0]
    return instantiate(spec, seed=int(state))


def open_study(
    name: str, storage: str, direction: str, sampler: DictConfig, pruner: DictConfig
) -> optuna.Study:
    """The study `name` in `storage`, created or loaded, with its sampler for this sweep."""
    study = optuna.create_study(
        study_name=name,
        storage=open_storage(storage),
        pruner=instantiate(pruner),
        direction=direction,
        load_if_exists=True,
    )
    study.sampler = resumed_sampler(sampler, len(study.get_trials(deepcopy=False)))
    return study


def running_trial(study: optuna.Study, number: int) -> optuna.Trial:
    """Trial `number` of `study`, to report to (jobs are told their trial's number)."""
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return optuna.trial.Trial(study, trial_id)


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The complete trial with the best value; of equal values, the lowest number (the rule
    that the sweep's MLflow summary applies too, so both name the same trial)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    pick = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
    return pick(sorted(complete, key=lambda t: t.number), key=lambda t: t.value)


def override_value(value: Any) -> str:
    """A sampled value as Hydra override text (strings from `choice` are already encoded)."""
    return repr(value) if isinstance(value, float) else str(value)


def counted_trials(study: optuna.Study) -> int:
    """Finished trials that count towards `n_trials` (not those an interruption cut short)."""
    trials = study.get_trials(deepcopy=False, states=COUNTED)
    return sum(not t.user_attrs.get("interrupted", False) for t in trials)


def retry_interrupted(study: optuna.Study) -> list[int]:
    """Trials left RUNNING by a sweep that was stopped: marked FAIL, their values run again.
    Returns their numbers."""
    stale_trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for stale in stale_trials:
        optuna.trial.Trial(study, stale._trial_id).set_user_attr("interrupted", True)
        study.tell(stale.number, state=TrialState.FAIL)
        study.enqueue_trial(stale.params)
        log.warning(
            "trial %d was left running by an interrupted sweep: marked FAIL, retried first",
            stale.number,
        )
    return [stale.number for stale in stale_trials]


def record(study: optuna.Study, trial: optuna.Trial, job: JobReturn) -> None:
    """Tell the study how a job ended: its objective, PRUNED, or FAIL (and the sweep goes on)."""
    if job.status == JobStatus.COMPLETED:
        value = job.return_value
        if isinstance(value, int | float) and math.isfinite(value):
            study.tell(trial, float(value))
            return
        error = f"the job returned {value!r}, expected a finite number"
    else:
        error = job._return_value  # `.return_value` would re-raise it
        if isinstance(error, optuna.TrialPruned):
            study.tell(trial, state=TrialState.PRUNED)
            log.info("trial %d pruned: %s", trial.number, error)
            return
    study.tell(trial, state=TrialState.FAIL)
    log.warning("trial %d failed (%s): %s", trial.number, trial.params, error)


class OptunaSweep(Sweeper):
    def __init__(
        self,
        direction: str,
        study_name: str | None,
        storage: str,
        n_trials: int,
        n_jobs: int,
        sampler: Any,
        pruner: Any,
        params: DictConfig | None,
    ) -> None:
        require_choice("sweep.direction", direction, DIRECTIONS)
        for key, value in (("n_trials", n_trials), ("n_jobs", n_jobs)):
            if value < 1:
                raise ConfigError(
                    f"hydra.sweeper.{key}={value} is invalid: expected an integer >= 1"
                )
        self.direction = direction
        self.study_name = study_name
        self.storage = absolute_storage(storage)
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.sampler = sampler  # `_target_` configs, built when the study is opened
        self.pruner = pruner
        self.params = OmegaConf.to_container(params, resolve=True) if params else {}
        self.job_idx = 0

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def study(self) -> optuna.Study:
        # The sweep's MLflow callback names a new study before the sweeper starts (it tags the
        # sweep's parent run with the name); without that callback the sweeper names it.
        name = self.study_name or new_study_name(self.config.hydra.job.name)
        if "'" in name:
            raise ConfigError(f"sweep.study_name={name} is invalid: expected a name without quotes")
        tracking = to_object(self.config.tracking)  # typed, as cnnlab.tracking takes it
        require_study_idle(tracking, name)
        study = open_study(name, self.storage, self.direction, self.sampler, self.pruner)
        interrupted = retry_interrupted(study)
        if interrupted:  # and their runs, which a parallel launcher's workers may have ended
            mark_trials_interrupted(tracking, name, interrupted)
        log.info(
            "Optuna study %s in %s (%d trials already); rerun with sweep.study_name=%s to continue it",
            name,
            self.storage,
            counted_trials(study),
            name,
        )
        return study

    def sweep(self, arguments: list[str]) -> list[JobReturn]:
        space, fixed = search_space(self.params, arguments)
        if not space:
            raise ConfigError(
                "hydra.sweeper.params={} is invalid: expected at least one search space, "
                "e.g. optimizer.lr='tag(log, interval(1e-4, 1e-1))'"
            )
        study = self.study()
        returns: list[JobReturn] = []
        remaining = self.n_trials - counted_trials(study)
        while remaining > 0:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, remaining))]
            batch = [
                (
                    *fixed,
                    *(f"{key}={override_value(value)}" for key, value in trial.params.items()),
                    f"sweep.trial={trial.number}",
                    f"sweep.study_name='{study.study_name}'",
                    f"sweep.storage='{self.storage}'",
                )
                for trial in trials
            ]
            try:
                self.validate_batch_is_legal(batch)
                jobs = self.launcher.launch(batch, initial_job_idx=self.job_idx)
            except Exception:  # a batch that cannot compose; Ctrl-C leaves its trials RUNNING,
                for trial in trials:  # so that a rerun retries them
                    study.tell(trial, state=TrialState.FAIL)
                raise
            self.job_idx += len(batch)
            for trial, job in zip(trials, jobs, strict=True):
                record(study, trial, job)
            returns.extend(jobs)
            remaining -= len(batch)
        self.report(study)
        return returns

    def report(self, study: optuna.Study) -> None:
        """Write the study's best trial to `optimization_results.yaml` in the sweep folder (the
        sweep's MLflow summary logs the same trial)."""
        best = best_trial(study)
        if best is None:
            log.warning("no trial of study %s completed", study.study_name)
            return
        results = {
            "name": study.study_name,
            "storage": self.storage,
            "best_trial": best.number,
            "best_params": best.params,
            "best_value": best.value,
        }
        path = Path(self.config.hydra.sweep.dir) / "optimization_results.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(results), path)
        log.info("study %s: best trial %d written to %s", study.study_name, best.number, path)
