"""The sweeper's config schema, registered as `hydra/sweeper=cnnlab_optuna`.

The interface is the one users of Hydra's Optuna plugin know: search spaces in `params`
(`choice(...)`, `range(...)`, `interval(...)`, `tag(log, interval(...))`, `tag(int, ...)`),
`n_trials`, `n_jobs`, `sampler` and `pruner` as `_target_` configs of Optuna classes.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class CnnlabOptunaSweeperConf:
    _target_: str = "hydra_plugins.cnnlab_optuna_sweeper.cnnlab_optuna_sweeper.CnnlabOptunaSweeper"
    # The sampler and pruner reach the sweeper as configs: it builds them for each study
    # (a resumed study's sampler gets another seed).
    _recursive_: bool = False
    # What is optimized and where the study lives come from the run config's `sweep` node.
    direction: str = "${sweep.direction}"
    study_name: str | None = "${sweep.study_name}"
    storage: str = "${sweep.storage}"
    # Trials the study should hold when the sweep ends (a resumed study counts its old ones).
    n_trials: int = 20
    # Trials launched together (in parallel with a parallel launcher such as joblib or Ray).
    n_jobs: int = 1
    sampler: Any = field(
        default_factory=lambda: {"_target_": "optuna.samplers.TPESampler", "seed": None}
    )
    # Judges each trial's per-epoch validation metric; `optuna.pruners.NopPruner` turns it off.
    pruner: Any = field(
        default_factory=lambda: {
            "_target_": "optuna.pruners.MedianPruner",
            "n_startup_trials": 5,
            "n_warmup_steps": 1,
        }
    )
    # {config key: search space}, e.g. {optimizer.lr: "tag(log, interval(1e-4, 1e-1))"}
    params: dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper", name="cnnlab_optuna", node=CnnlabOptunaSweeperConf, provider="cnnlab"
)
