"""cnnlab's Optuna sweeper for Hydra: `hydra/sweeper=cnnlab_optuna` (see `config.py`).

The released hydra-optuna-sweeper pins optuna<3, whose SQLite storage fails beside the
SQLAlchemy 2 that MLflow needs; this one runs on current Optuna with persistent storage, so
an interrupted study continues, and prunes trials from their per-epoch validation metric.
Heavy imports (Optuna, Keras) happen only when a sweep runs: Hydra imports this package's
public modules on every start to discover plugins.
"""

from cnnlab.config import TrainConfig


def trial_callbacks(cfg: TrainConfig) -> list:
    """The Keras callbacks a job of this sweeper adds to its fit (none outside such a job)."""
    if cfg.sweep.trial is None:
        return []
    from hydra_plugins.cnnlab_optuna_sweeper._pruning import trial_callback

    return [trial_callback(cfg.sweep)]
