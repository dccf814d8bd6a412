"""Visualize a trained run: `python pipelines/visualize.py run=<id> viz=saliency` (or `make visualize`).

Visualizations (conf/viz/): filters, feature_maps, activation_max, saliency, deepdream,
style_transfer, embedding, kernels (no run needed). `viz.model=random:vgg11` looks at a freshly initialized model instead.
"""

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from cnnlab import cli, native_logs
from cnnlab.config import typed
from cnnlab.config.run import VisualizeConfig

log = logging.getLogger("cnnlab.visualize")


@hydra.main(config_path="../conf", config_name="visualize", version_base="1.3")
@cli.one_line_errors
def main(cfg: DictConfig) -> None:
    settings = typed(cfg, VisualizeConfig)  # every value checked, before the heavy imports
    native_logs.import_tensorflow()  # only once Hydra has parsed the command line
    from cnnlab.visualize import visualize

    result = visualize(settings, Path(HydraConfig.get().runtime.output_dir))
    log.info(
        "%s took %.1f s; pictures in %s%s",
        result.name,
        result.seconds,
        result.output_dir,
        f" and MLflow {result.location}" if result.location else "",
    )


if __name__ == "__main__":
    cli.run(main)
