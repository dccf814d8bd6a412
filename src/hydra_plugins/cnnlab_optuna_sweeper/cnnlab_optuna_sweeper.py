"""The Sweeper that Hydra instantiates; the Optuna work is in `_impl` (imported when used)."""

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class CnnlabOptunaSweeper(Sweeper):
    """Hydra's Sweeper interface over an Optuna study with persistent storage."""

    def __init__(self, **options: Any) -> None:
        from hydra_plugins.cnnlab_optuna_sweeper._impl import OptunaSweep

        self.sweep_impl = OptunaSweep(**options)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.sweep_impl.setup(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        return self.sweep_impl.sweep(arguments)
