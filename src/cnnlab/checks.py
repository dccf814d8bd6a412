"""Checks that a type cannot express: ranges, names known to a registry, options a builder takes.

Each raises `ConfigError` with one line that names the key, the value and what is allowed.
"""

from typing import Any, ClassVar

from cnnlab.errors import ConfigError


def require(valid: bool, key: str, value: Any, expected: str) -> None:
    """Raise `key=value is invalid: expected ...` unless `valid`."""
    if not valid:
        raise ConfigError(f"{key}={value!r} is invalid: expected {expected}")


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


def is_size(value: Any) -> bool:
    """[height, width] with integers >= 1."""
    return isinstance(value, list | tuple) and len(value) == 2 and all(v >= 1 for v in value)


class Checked:
    """A group schema whose `__post_init__` checks ranges; OmegaConf.to_object runs it.

    `GROUP` is the config path of the group (`trainer`, `data`), so messages name full keys.
    """

    GROUP: ClassVar[str] = ""

    def require(self, key: str, valid: bool, expected: str) -> None:
        prefix = f"{self.GROUP}." if self.GROUP else ""
        require(valid, prefix + key, getattr(self, key), expected)

    def require_choice(self, key: str, allowed: list[str] | tuple[str, ...]) -> None:
        prefix = f"{self.GROUP}." if self.GROUP else ""
        require_choice(prefix + key, getattr(self, key), allowed)
