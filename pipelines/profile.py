"""Print a model's per-layer profile: `python pipelines/profile.py model=vgg16` (or `make profile`).

With `model.conv_impl=auto`, also the kernel each conv and pool layer runs on, timed at
`batch_size` (`cnnlab.models.autotune`).
"""

import logging

import hydra
from omegaconf import DictConfig

from cnnlab import cli, native_logs
from cnnlab.config import typed
from cnnlab.config.run import ProfileConfig

log = logging.getLogger(__name__)


@hydra.main(config_path="../conf", config_name="profile", version_base="1.3")
@cli.one_line_errors
def main(composed: DictConfig) -> None:
    cfg: ProfileConfig = typed(composed, ProfileConfig)  # every value checked
    native_logs.import_tensorflow()  # only once Hydra has parsed the command line
    from cnnlab import models, tracking
    from cnnlab.analysis import profile, shapes_only
    from cnnlab.models import autotune

    paper_shape, paper_classes = models.paper_input(cfg.model.name)
    input_shape = tuple(cfg.input_shape or paper_shape)
    num_classes = cfg.num_classes or paper_classes
    options = cfg.model.options()  # `init` was checked with the config, though not drawn here
    tuning = None
    if getattr(cfg.model, "conv_impl", None) == "auto":
        # timing runs the layers: their weights are drawn
        model = models.build(cfg.model.name, input_shape, num_classes, **options)
        tuning = autotune.tune(model, cfg.batch_size)
        model = tuning.model
    else:
        with shapes_only():  # the profile reads shapes: no weights are drawn (or redrawn by init)
            model = models.build(
                cfg.model.name, input_shape, num_classes, **options | {"init": "keras"}
            )
    result = profile(models.inference_model(model))  # auxiliary classifiers are training-only
    print(result.table())
    if tuning:
        print(f"\n{tuning.table()}")
    if cfg.log:
        name = tracking.run_name("profile", cfg.model.name)
        with tracking.run(cfg.tracking, name, {"model": cfg.model.name, "kind": "profile"}):
            tracking.log_config(cfg)
            tracking.log_params(
                {"profile.input_shape": input_shape, "profile.num_classes": num_classes}
            )
            tracking.log_metrics(result.totals())
            tracking.log_text(result.table(), "profile.txt")
            if tuning:
                tracking.log_text(tuning.table(), "autotune.txt")
        log.info("logged the profile to MLflow run %s", name)


if __name__ == "__main__":
    cli.run(main)
