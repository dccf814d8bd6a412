"""The typed config boundary: one dataclass schema per config group, with range checks in the
schemas (`cnnlab.checks`).

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

from cnnlab.checks import require
from cnnlab.config.messages import omegaconf_error_message
from cnnlab.config.store import is_schema, register_schemas, schema_for
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


def typed(node: Any, group: str) -> Any:
    """A group's config as its schema's dataclass, also when it was read back untyped (a run's
    logged `config.yaml`): the schema is chosen by the group and its `source` or `name`."""
    if is_dataclass(node):
        return node  # already the schema's object
    if isinstance(node, DictConfig) and is_dataclass(OmegaConf.get_type(node)):
        return to_object(node)
    values = node if isinstance(node, dict) else OmegaConf.to_container(node, resolve=True)
    schema = schema_for(group, values)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), values)
    except OmegaConfBaseException as error:
        raise ConfigError(omegaconf_error_message(error)) from None
    return to_object(merged)


def validate(cfg: DictConfig) -> None:
    """Run every schema's checks; the first bad or missing value raises a one-line ConfigError."""
    reject_added_keys(cfg)
    to_object(cfg)
    if "seed" in cfg:
        require(isinstance(cfg.seed, int) and cfg.seed >= 0, "seed", cfg.seed, "an integer >= 0")


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
    "is_schema",
    "register_schemas",
    "to_object",
    "validate",
]
