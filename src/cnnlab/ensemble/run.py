"""An ensemble run: train or gather members, combine their test predictions, record it.

The members' test probabilities are combined three ways (mean, weighted mean, majority
vote); the weights are the members' `ensemble.metric` (a validation metric, never a test
one). One MLflow parent run (`kind=ensemble`) holds the numbers, a table, a bar chart and the
ensemble as one Keras model; members trained here become its child runs, gathered members get
a tag `ensemble.<parent run id>`.
"""

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from cnnlab import tracking
from cnnlab.config import CONF_DIR, EnsembleRunConfig, TrainConfig, register_schemas, to_object
from cnnlab.config.ensemble import EnsembleConfig
from cnnlab.config.model import ModelConfig
from cnnlab.config.tracking import TrackingConfig
from cnnlab.data import build_datasets
from cnnlab.ensemble.combine import accuracy, combinations
from cnnlab.ensemble.model import averaging_model
from cnnlab.ensemble.report import accuracy_chart, accuracy_table
from cnnlab.errors import ConfigError
from cnnlab.inference import predict_pixels, split_pixels
from cnnlab.training import train

log = logging.getLogger(__name__)


@dataclass
class Member:
    run_id: str
    name: str
    weight: float  # the member's `ensemble.metric`; 1 when the run lacks it
    trained: bool  # trained by this ensemble (a child run) or gathered (tagged)


@dataclass
class EnsembleResult:
    """What an ensemble run produced; accuracies are on the test split."""

    run_id: str
    members: list[Member]
    member_accuracy: dict[str, float]  # run name -> accuracy
    accuracy: dict[str, float]  # combination (mean, weighted, vote) -> accuracy
    seconds: float

    @property
    def best_member(self) -> float:
        return max(self.member_accuracy.values())

    @property
    def mean_member(self) -> float:
        return float(np.mean(list(self.member_accuracy.values())))


def member_recipe(cfg: EnsembleRunConfig) -> TrainConfig:
    """The training config every member shares: `cfg` without its `ensemble` node."""
    return TrainConfig(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(TrainConfig)})


def model_config(name: str) -> ModelConfig:
    """`conf/model/<name>.yaml` as composed by Hydra (inside a Hydra app, or standalone)."""
    if GlobalHydra.instance().is_initialized():
        return to_object(compose("train", overrides=[f"model={name}"]).model)
    register_schemas()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return to_object(compose("train", overrides=[f"model={name}"]).model)


def member_config(recipe: TrainConfig, spec: EnsembleConfig, index: int) -> TrainConfig:
    """Member `index`: seed + index, and the index-th (cycled) model and input size if given."""
    changes: dict = {"seed": recipe.seed + index}
    if spec.models:
        changes["model"] = model_config(spec.models[index % len(spec.models)])
    if spec.image_sizes:
        size = list(spec.image_sizes[index % len(spec.image_sizes)])
        changes["data"] = dataclasses.replace(recipe.data, image_size=size)
    return dataclasses.replace(recipe, **changes)


def metric_weight(run, metric: str) -> float:
    """A member's weight: its `metric`, or 1 when the run did not log it."""
    value = run.data.metrics.get(metric)
    return 1.0 if value is None else float(value)


def train_members(recipe: TrainConfig, spec: EnsembleConfig, output_dir: Path) -> list[Member]:
    members = []
    for index in range(spec.members):
        cfg = member_config(recipe, spec, index)
        log.info(
            "training member %d/%d (model %s, seed %d)",
            index + 1,
            spec.members,
            cfg.model.name,
            cfg.seed,
        )
        result = train(cfg, output_dir=output_dir / f"member_{index}")
        weight = metric_weight(tracking.get_run(result.run_id, recipe.tracking), spec.metric)
        members.append(Member(result.run_id, result.run_name, weight, trained=True))
    return members


def gather_members(tracking_cfg: TrackingConfig, spec: EnsembleConfig) -> list[Member]:
    """Existing runs: by id, or the best `top_k` by `metric` among a parent's children or
    the runs matching a filter."""
    if spec.run_ids:
        run_ids = list(spec.run_ids)
    else:
        run_ids = tracking.find_runs(
            tracking_cfg, spec.filter or "", spec.metric, spec.top_k, spec.sweep_parent
        )
        if not run_ids:
            where = (
                f"ensemble.sweep_parent={spec.sweep_parent!r}"
                if spec.sweep_parent
                else f"ensemble.filter={spec.filter!r}"
            )
            raise ConfigError(
                f"{where} is invalid: no finished run matches in experiment "
                f"{tracking_cfg.experiment!r}"
            )
    members = []
    for run_id in run_ids:
        run = tracking.require_run(run_id, tracking_cfg)
        members.append(Member(run_id, run.info.run_name, metric_weight(run, spec.metric), False))
    return members


def build_ensemble(cfg: EnsembleRunConfig, output_dir: Path | None = None) -> EnsembleResult:
    """Train or gather `cfg.ensemble`'s members, evaluate every combination on the test
    split, and record the ensemble as an MLflow parent run with its model."""
    spec = cfg.ensemble
    recipe = member_recipe(cfg)
    output_dir = Path(output_dir or Path("outputs", "ensembles", tracking.run_name("ensemble")))
    start = time.perf_counter()
    gathering = bool(spec.run_ids or spec.sweep_parent or spec.filter)
    members = (
        gather_members(recipe.tracking, spec)
        if gathering
        else train_members(recipe, spec, output_dir)
    )
    models = [tracking.load_model(m.run_id, recipe.tracking) for m in members]
    pixels, labels = split_pixels(build_datasets(recipe), "test")
    probabilities = np.stack([predict_pixels(model, pixels) for model in models])
    weights = np.array([m.weight for m in members])
    member_accuracy = {
        m.name: accuracy(p, labels) for m, p in zip(members, probabilities, strict=True)
    }
    combined = {
        name: accuracy(p, labels) for name, p in combinations(probabilities, weights).items()
    }
    seconds = time.perf_counter() - start
    result = EnsembleResult("", members, member_accuracy, combined, seconds)
    result.run_id = record(result, models, pixels[:2], recipe, spec)
    log.info(
        "ensemble of %d: test accuracy %s; members %.4f-%.4f (mean %.4f); %.1f s",
        len(members),
        ", ".join(f"{k} {v:.4f}" for k, v in combined.items()),
        min(member_accuracy.values()),
        result.best_member,
        result.mean_member,
        seconds,
    )
    return result


def record(
    result: EnsembleResult,
    models: list[keras.Model],
    example: np.ndarray,
    recipe: TrainConfig,
    spec: EnsembleConfig,
) -> str:
    """The parent run: params, metrics, table, chart and the averaging model; links members."""
    name = tracking.run_name("ensemble", str(len(result.members)))
    tags = {"kind": "ensemble", "git_commit": tracking.git_commit(), "data": recipe.data.name}
    exported = result.accuracy[spec.export]
    with tracking.run(recipe.tracking, name, tags) as run_id:
        tracking.log_params(
            {
                **{f"ensemble.{k}": v for k, v in tracking.flatten(spec).items()},
                "ensemble.member_run_ids": [m.run_id for m in result.members],
                "ensemble.weights": [round(m.weight, 6) for m in result.members],
            }
        )
        tracking.log_metrics(
            {
                "test_accuracy": exported,
                **{f"test_accuracy_{k}": v for k, v in result.accuracy.items()},
                "best_member_test_accuracy": result.best_member,
                "mean_member_test_accuracy": result.mean_member,
                "gain_over_best_member": exported - result.best_member,
                "gain_over_member_mean": exported - result.mean_member,
                "members": len(result.members),
                "seconds": result.seconds,
            }
        )
        for index, value in enumerate(result.member_accuracy.values()):
            tracking.log_metrics({"member_test_accuracy": value}, step=index)
        tracking.log_text(accuracy_table(result.member_accuracy, result.accuracy), "ensemble.md")
        tracking.log_figure(accuracy_chart(result.member_accuracy, result.accuracy), "ensemble.png")
        weights = [m.weight for m in result.members] if spec.export == "weighted" else None
        metadata = dict(tracking.model_metadata(result.members[0].run_id, recipe.tracking))
        metadata |= {
            "members": [m.run_id for m in result.members],
            "combination": spec.export,
            "weights": weights,
        }
        tracking.log_model(averaging_model(models, weights), example, metadata)
    for member in result.members:
        link = (
            {"mlflow.parentRunId": run_id} if member.trained else {f"ensemble.{run_id}": "member"}
        )
        tracking.set_run_tags(member.run_id, link, recipe.tracking)
    return run_id
