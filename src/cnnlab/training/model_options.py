"""Which keys of the `model` config group are the builder's options and which are the run's."""

from omegaconf import DictConfig, OmegaConf

# `cfg.model` keys that are not the builder's: the name, the L2 penalty (training.regularization)
# and where the weights start from (training.warm_start, training.freeze)
RUN_MODEL_KEYS = ("name", "l2", "init_from", "weights_path", "freeze")


def model_options(model_cfg: DictConfig) -> dict:
    """`cfg.model` without its run-level keys: the keyword options of the model's builder."""
    options = OmegaConf.to_container(model_cfg, resolve=True)
    for key in RUN_MODEL_KEYS:
        options.pop(key, None)
    return options
