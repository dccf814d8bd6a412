"""One-line messages for what Hydra and OmegaConf report about a bad config."""

import difflib
from dataclasses import fields, is_dataclass
from enum import Enum
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

from omegaconf.errors import (
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from cnnlab.config.store import is_schema


def unknown_option_message(missing: str, options: list[str]) -> str:
    """`model/lenet` -> model='lenet' is unknown; did you mean lenet5? available: ..."""
    group, _, name = missing.rpartition("/")
    choices = [o for o in options if not is_schema(o)]
    if not group:
        return f"config {name!r} not found"
    close = difflib.get_close_matches(name, choices, n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return f"{group}={name!r} is unknown; {hint}available: {', '.join(choices)}"


def omegaconf_error_message(error: OmegaConfBaseException) -> str:
    """An OmegaConf error about a key as one line: `key=value is invalid: expected ...`."""
    key, value, schema = error.full_key, getattr(error, "value", None), error.object_type
    name = key.rsplit(".", 1)[-1]
    if isinstance(error, MissingMandatoryValue):
        return f"{key} is required: set {key}=..."
    expected = {f.name: f.type for f in fields(schema)} if is_dataclass(schema) else {}
    if isinstance(error, ConfigKeyError) or name not in expected:
        known = ", ".join(expected) if expected else "see --cfg job"
        return f"{key} is not a config key; keys here: {known} (add one with +{key}=...)"
    shown = f"{value!r}" if value is not None else "this value"
    if isinstance(error, ValidationError):
        return f"{key}={shown} is invalid: expected {describe_type(expected[name])}"
    return " ".join(str(error).split("\n")[0].split())


def describe_type(annotation: Any) -> str:
    """int -> 'an integer', Precision -> 'one of auto, float32, ...', X | None -> '... or null'."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        kinds = [describe_type(a) for a in get_args(annotation) if a is not NoneType]
        nullable = NoneType in get_args(annotation)
        return " or ".join(kinds) + (" or null" if nullable else "")
    if origin is list:
        (item,) = get_args(annotation) or (Any,)
        return f"a list of {describe_type(item).removeprefix('an ').removeprefix('a ')}s"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(m.name for m in annotation)
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        annotation, str(annotation)
    )
