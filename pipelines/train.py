"""Train one model: `python pipelines/train.py model=resnet20 trainer.epochs=3` (or `make train`)."""

import hydra
from omegaconf import DictConfig

from cnnlab import cli
from cnnlab.config import validate


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
@cli.one_line_errors
def main(cfg: DictConfig) -> float:
    """Return the test accuracy, the value a sweep maximizes."""
    validate(cfg)  # range checks, before the heavy imports
    from cnnlab.training import (
        train,  # TensorFlow loads only once Hydra has parsed the command line
    )

    return train(cfg).test_metrics["test_accuracy"]


if __name__ == "__main__":
    cli.run(main)
