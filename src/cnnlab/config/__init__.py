"""Checks on the composed run config, so that a bad value fails before any work starts.

Names (model, data source, optimizer, schedule) are checked by the registries that own
them; this module checks the run-level values whose type and range are the same for
every choice of group.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cnnlab.errors import ConfigError

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
VERBOSITY = ("auto", 0, 1, 2)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or isinstance(value, float)


def _is_size(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(_is_int(v) and v >= 1 for v in value)
    )


@dataclass(frozen=True)
class Rule:
    """One config key: what a valid value is, and how to say so."""

    key: str
    is_valid: Callable[[Any], bool]
    allowed: str
    optional: bool = False  # None is allowed


RULES: tuple[Rule, ...] = (
    Rule("seed", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    Rule("trainer.epochs", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    Rule("trainer.batch_size", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    Rule(
        "trainer.steps_per_epoch",
        lambda v: _is_int(v) and v >= 1,
        "an integer >= 1 or null",
        optional=True,
    ),
    Rule("trainer.precision", lambda v: v in PRECISIONS, "one of " + ", ".join(PRECISIONS)),
    Rule("trainer.jit_compile", lambda v: isinstance(v, bool), "true or false"),
    Rule("trainer.label_smoothing", lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    Rule(
        "trainer.verbose",
        lambda v: v in VERBOSITY and not isinstance(v, bool),
        "one of auto, 0, 1, 2",
    ),
    Rule("optimizer.lr", lambda v: _is_number(v) and v > 0, "a number > 0"),
    Rule(
        "optimizer.weight_decay", lambda v: _is_number(v) and v >= 0, "a number >= 0", optional=True
    ),
    Rule(
        "optimizer.clipnorm",
        lambda v: _is_number(v) and v > 0,
        "a number > 0 or null",
        optional=True,
    ),
    Rule("data.image_size", _is_size, "[height, width] with integers >= 1"),
    Rule("data.channels", lambda v: v in (1, 3), "1 or 3"),
    Rule("data.val_fraction", lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    Rule("data.test_fraction", lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)"),
    Rule(
        "data.load_size",
        _is_size,
        "[height, width] with integers >= 1, or null (= data.image_size)",
        optional=True,
    ),
    Rule("data.normalize", lambda v: isinstance(v, bool), "true or false"),
    Rule(
        "tracking.experiment",
        lambda v: isinstance(v, str) and v.strip() != "",
        "a non-empty string",
    ),
)

_MISSING = object()


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first key whose value breaks its rule."""
    for rule in RULES:
        value = OmegaConf.select(cfg, rule.key, default=_MISSING)
        if value is _MISSING:
            continue  # a group that does not use this key (e.g. data=synthetic has no val split)
        if isinstance(value, DictConfig) or OmegaConf.is_list(value):
            value = OmegaConf.to_container(value, resolve=True)
        if value is None and rule.optional:
            continue
        if not rule.is_valid(value):
            raise ConfigError(f"{rule.key}={value!r} is invalid: expected {rule.allowed}")


def require_choice(key: str, value: Any, allowed: list[str] | tuple[str, ...]) -> None:
    """Raise ConfigError unless `value` is one of `allowed`; the message lists them."""
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is unknown; available: {', '.join(map(str, allowed))}")


def check_options(owner: str, options: dict[str, Any], accepted: set[str] | frozenset[str]) -> None:
    """Raise ConfigError for an option that `owner` does not take (catches typos in configs)."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"{owner} got unknown option(s) {', '.join(unknown)}; accepted: {', '.join(sorted(accepted)) or 'none'}"
        )
