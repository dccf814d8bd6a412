"""Evaluate a run's logged model: `python pipelines/evaluate.py run=<id>` (or `make evaluate RUN=<id>`)."""

import hydra
from omegaconf import DictConfig

from cnnlab import cli, native_logs
from cnnlab.config import typed
from cnnlab.config.run import EvaluateConfig


@hydra.main(config_path="../conf", config_name="evaluate", version_base="1.3")
@cli.one_line_errors
def main(cfg: DictConfig) -> float:
    """Return the accuracy on the evaluated split."""
    settings = typed(cfg, EvaluateConfig)  # every value checked, before the heavy imports
    native_logs.import_tensorflow()
    from cnnlab.inference import evaluate_run

    evaluation = evaluate_run(settings)
    return evaluation.metrics[f"{evaluation.prefix}_accuracy"]


if __name__ == "__main__":
    cli.run(main)
