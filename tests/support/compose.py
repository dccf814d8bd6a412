"""The real configs of conf/, composed with Hydra's compose API as the pipelines compose them."""

from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from cnnlab.config import EnsembleRunConfig, TrainConfig, register_schemas, typed
from cnnlab.config.run import EvaluateConfig, PredictConfig, VisualizeConfig

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"


# The roots whose pipelines turn the composed config into its dataclass (`cnnlab.config.typed`)
TYPED_ROOTS = {
    "train": TrainConfig,
    "ensemble": EnsembleRunConfig,
    "visualize": VisualizeConfig,
    "evaluate": EvaluateConfig,
    "predict": PredictConfig,
}


def compose_config(name: str, *overrides: str) -> Any:
    """`conf/<name>.yaml` (train, ensemble, evaluate, predict, visualize, ...) with overrides;
    for the roots of TYPED_ROOTS the typed config that their pipelines pass on."""
    cfg = compose_untyped(name, *overrides)
    return typed(cfg, TYPED_ROOTS[name]) if name in TYPED_ROOTS else cfg


def compose_untyped(name: str, *overrides: str) -> DictConfig:
    """`conf/<name>.yaml` as Hydra composed it, before the pipeline's conversion."""
    register_schemas()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose(name, overrides=list(overrides))
