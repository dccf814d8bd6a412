"""Recompute the lecture notes' worked numbers: `python pipelines/notes.py` (or `make notes`).

Exits 1 when a row is neither a match nor a documented erratum.
"""

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from cnnlab import cli, native_logs
from cnnlab.config import typed
from cnnlab.config.run import NotesConfig

log = logging.getLogger(__name__)


@hydra.main(config_path="../conf", config_name="notes", version_base="1.3")
@cli.one_line_errors
def main(composed: DictConfig) -> None:
    cfg: NotesConfig = typed(composed, NotesConfig)  # every value checked
    native_logs.import_tensorflow()  # only once Hydra has parsed the command line
    from cnnlab import tracking
    from cnnlab.analysis import notes

    if cfg.log:
        tracking.check_store(cfg.tracking)
    table = notes.recompute()
    print(table.text())
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(table.markdown())
    log.info("wrote %s", output)
    if cfg.log:
        with tracking.run(cfg.tracking, tracking.run_name("notes"), {"kind": "notes"}):
            tracking.log_config(cfg)
            tracking.log_metrics({f"rows_{s.lower()}": table.count(s) for s in notes.STATUSES})
            tracking.log_text(table.markdown(), "notes.md")
            tracking.log_text(table.text(), "notes.txt")
        log.info("logged the table to MLflow")
    if table.mismatches:
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main)
