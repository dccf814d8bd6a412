"""Schema of the `ensemble` node of `conf/ensemble.yaml`: which members, how they combine."""

from dataclasses import dataclass, field

from cnnlab.errors import ConfigError

COMBINATIONS = ("mean", "weighted")  # what the exported Keras model computes


@dataclass
class EnsembleConfig:
    """Members are trained (`members` of them, varying seed, `models` and `image_sizes`) unless
    `run_ids`, `sweep_parent` or `filter` gathers existing runs instead."""

    members: int = 3  # members to train; member i gets seed + i
    models: list[str] = field(default_factory=list)  # architectures, cycled ([] = model.name)
    image_sizes: list[list[int]] = field(default_factory=list)  # input scales, cycled
    run_ids: list[str] = field(default_factory=list)  # gather these runs
    sweep_parent: str | None = None  # gather the best `top_k` children of this parent run
    filter: str | None = None  # gather the best `top_k` runs matching this MLflow search filter
    top_k: int = 5
    metric: str = "val_accuracy"  # ranks gathered runs; weights of the weighted average
    export: str = "mean"  # mean | weighted: the combination saved as the ensemble's model

    def __post_init__(self) -> None:
        if self.members < 1:
            raise ConfigError(f"ensemble.members={self.members} is invalid: expected >= 1")
        if self.top_k < 1:
            raise ConfigError(f"ensemble.top_k={self.top_k} is invalid: expected >= 1")
        if self.export not in COMBINATIONS:
            raise ConfigError(
                f"ensemble.export={self.export!r} is invalid: expected one of "
                + ", ".join(COMBINATIONS)
            )
        for size in self.image_sizes:
            if len(size) != 2 or min(size) < 1:
                raise ConfigError(
                    f"ensemble.image_sizes={self.image_sizes!r} is invalid: expected a list of "
                    "[height, width] with integers >= 1"
                )
        sources = [k for k in ("run_ids", "sweep_parent", "filter") if getattr(self, k)]
        if len(sources) > 1:
            raise ConfigError(
                f"ensemble.{sources[1]} is invalid with ensemble.{sources[0]}: expected one way "
                "of gathering members (run_ids, sweep_parent or filter)"
            )
