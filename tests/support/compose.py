"""The real configs of conf/, composed with Hydra's compose API as the pipelines compose them."""

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from cnnlab.config import register_schemas

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"


def compose_config(name: str, *overrides: str) -> DictConfig:
    """`conf/<name>.yaml` (train, ensemble, evaluate, predict, visualize, ...) with overrides."""
    register_schemas()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose(name, overrides=list(overrides))
