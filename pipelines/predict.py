"""Predict image files: `python pipelines/predict.py run=<id> images=<files or folder>`
(or `make predict RUN=<id> IMAGES=<files or folder>`)."""

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from cnnlab import cli, native_logs

log = logging.getLogger(__name__)


@hydra.main(config_path="../conf", config_name="predict", version_base="1.3")
@cli.one_line_errors
def main(cfg: DictConfig) -> None:
    native_logs.import_tensorflow()
    from cnnlab.inference import predict_files, table, write_csv

    predictions, _ = predict_files(cfg)
    log.info("predictions of run %s:\n%s", cfg.run, table(predictions))
    write_csv(predictions, Path(cfg.output), cfg.top_k)
    log.info("wrote %s", cfg.output)


if __name__ == "__main__":
    cli.run(main)
