"""The typed config boundary: one dataclass schema per config group and per root, with range
and cross-field checks in the schemas (`cnnlab.checks`). A pipeline turns its composed config
into its root dataclass once, with `typed`; below the pipelines, code reads attributes.

Importing this package has no side effects: the pipelines' entry point (`cnnlab.cli.run`) and
whatever else composes a config with Hydra call `register_schemas()` first, which puts the
schemas in Hydra's ConfigStore. It imports neither TensorFlow nor Keras, so the pipelines answer
`--help` and bad overrides before any heavy import.
"""

from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cnnlab.config.messages import omegaconf_error_message
from cnnlab.config.store import has_schema, is_schema, register_schemas, schema_for
from cnnlab.config.train import EnsembleRunConfig, TrainConfig
from cnnlab.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"  # the YAML side of the schemas


def to_object(node: Any) -> Any:
    """A composed node as its schema's dataclass (running its range checks), lists and dicts
    as plain containers; anything else unchanged."""
    if not (isinstance(node, DictConfig) or OmegaConf.is_list(node)):
        return node
    try:
        return OmegaConf.to_object(node)
    except OmegaConfBaseException as error:  # a missing value (`???`), a bad merge
        raise ConfigError(omegaconf_error_message(error)) from None


def typed(cfg: DictConfig | dict, schema: type = TrainConfig) -> Any:
    """A config as its root dataclass: the one conversion, at a pipeline's entry point, of the
    config Hydra composed (typed by its root's schema) or of plain values, such as a run's logged
    `config.yaml` read back, over `schema` (each group's schema chosen by its `source` or
    `name`). Every check runs here; the first bad, missing or unknown key raises a one-line
    ConfigError."""
    if isinstance(cfg, DictConfig) and is_dataclass(OmegaConf.get_type(cfg)):
        reject_added_keys(cfg)
        return to_object(cfg)
    values = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=True)
    root = OmegaConf.structured(schema)
    try:
        for group, group_values in values.items():
            if isinstance(group_values, dict) and has_schema(group):
                root[group] = OmegaConf.structured(schema_for(group, group_values))
        return to_object(OmegaConf.merge(root, values))
    except OmegaConfBaseException as error:  # a key the schema lacks, a value of a wrong type
        raise ConfigError(omegaconf_error_message(error)) from None


def reject_added_keys(node: DictConfig, path: str = "") -> None:
    """A key added with `+key=value` to a group whose schema lacks it would be dropped silently
    when the config becomes objects; name it instead."""
    schema = OmegaConf.get_type(node)
    known = {f.name for f in fields(schema)} if is_dataclass(schema) else None
    for key in node:
        full_key = f"{path}{key}"
        if known is not None and key not in known:
            raise ConfigError(
                f"{full_key} is not a config key; keys here: {', '.join(sorted(known))}"
            )
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            reject_added_keys(child, f"{full_key}.")


__all__ = [
    "CONF_DIR",
    "EnsembleRunConfig",
    "TrainConfig",
    "is_schema",
    "register_schemas",
    "to_object",
    "typed",
]
