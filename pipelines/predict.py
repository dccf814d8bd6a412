"""Predict image files: `python pipelines/predict.py run=<id> images=<files or folder>`
(or `make predict RUN=<id> IMAGES=<files or folder>`)."""

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from cnnlab import cli, native_logs
from cnnlab.config import typed
from cnnlab.config.run import PredictConfig

log = logging.getLogger(__name__)


@hydra.main(config_path="../conf", config_name="predict", version_base="1.3")
@cli.one_line_errors
def main(cfg: DictConfig) -> None:
    settings = typed(cfg, PredictConfig)  # every value checked, before the heavy imports
    native_logs.import_tensorflow()
    from cnnlab.inference import predict_files, table, write_csv

    predictions, _ = predict_files(settings)
    log.info("predictions of run %s:\n%s", settings.run, table(predictions))
    write_csv(predictions, Path(settings.output), settings.top_k)
    log.info("wrote %s", settings.output)


if __name__ == "__main__":
    cli.run(main)
