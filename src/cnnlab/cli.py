"""What the pipelines share: a one-line error and a non-zero exit for anything the user can fix."""

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnlab.config import require_choice
from cnnlab.errors import CnnlabError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def check_group_choices(argv: list[str], conf_dir: Path = CONF_DIR) -> None:
    """Fail on `group=name` overrides that name no config file, before Hydra prints its stack.

    Handles sweep lists (`model=lenet5,simple_convnet`); leaves sweep functions such as
    `choice(...)` to Hydra.
    """
    groups = {p.name for p in conf_dir.iterdir() if p.is_dir()}
    for arg in argv:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+")
        if not sep or key not in groups or "(" in value:
            continue
        options = sorted(p.stem for p in (conf_dir / key).glob("*.yaml"))
        for name in value.split(","):
            require_choice(key, name, options)


def in_multirun_job() -> bool:
    """True inside one job of a Hydra `--multirun` (a sweep), False in a single run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def user_errors_exit(main: Callable[..., Any]) -> Callable[..., Any]:
    """Run `main`; a CnnlabError prints `error: ...` as one line and exits 2, Ctrl-C exits 130.

    Inside a sweep's job the error is logged as that one line and re-raised instead: Hydra
    records the job as failed, the sweeper marks the trial FAILED and the sweep goes on
    (an exit here would end the whole multirun).
    """

    @functools.wraps(main)
    def guarded(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except CnnlabError as error:
            if in_multirun_job():
                logging.getLogger(main.__module__).error("error: %s", error)
                raise
            print(f"error: {error}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(EXIT_INTERRUPTED)

    return guarded


def precheck_command_line() -> None:
    """Call first in a pipeline's `__main__`: bad group names exit with one line."""
    try:
        check_group_choices(sys.argv[1:])
    except CnnlabError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
