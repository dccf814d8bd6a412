"""Train one model: `python pipelines/train.py model=resnet20 trainer.epochs=3` (or `make train`)."""

import hydra
from omegaconf import DictConfig

from cnnlab.cli import precheck_command_line, user_errors_exit
from cnnlab.training import train


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
@user_errors_exit
def main(cfg: DictConfig) -> float:
    """Return the test accuracy, the value a sweep maximizes."""
    return train(cfg).test_metrics["test_accuracy"]


if __name__ == "__main__":
    precheck_command_line()
    main()
