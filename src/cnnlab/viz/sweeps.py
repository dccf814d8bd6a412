"""Sweep plots: the objective of each trial, and against each swept parameter.

A trial is anything with `state` (COMPLETE, PRUNED or FAIL) and `value` (the objective, or
None); pruned trials show their last reported value, failed ones sit on the x axis as crosses.
"""

import math
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

STYLE = {
    "COMPLETE": {"marker": "o", "color": "tab:blue"},
    "PRUNED": {"marker": "v", "color": "tab:orange"},
    "FAIL": {"marker": "x", "color": "tab:red"},
}


def _points(axis: Axes, xs: Sequence[Any], trials: Sequence[Any]) -> None:
    """Scatter the trials by state; a trial without a value is drawn at the axis bottom."""
    values = [t.value for t in trials if t.value is not None and math.isfinite(t.value)]
    floor = min(values) if values else 0.0
    for state, style in STYLE.items():
        chosen = [(x, t) for x, t in zip(xs, trials, strict=True) if t.state == state]
        if chosen:
            ys = [t.value if t.value is not None else floor for _, t in chosen]
            axis.scatter([x for x, _ in chosen], ys, label=state.lower(), **style)
    axis.grid(alpha=0.3)
    axis.legend()


def plot_objective_per_trial(trials: Sequence[Any], metric: str, best: Any | None) -> Figure:
    figure, axis = plt.subplots(figsize=(6, 3.6))
    _points(axis, range(len(trials)), trials)
    if best is not None:
        axis.axhline(best.value, color="tab:green", linestyle="--", label=f"best {best.value:.4f}")
        axis.legend()
    axis.set_xlabel("trial (in start order)")
    axis.set_ylabel(metric)
    axis.set_title(f"{metric} per trial")
    figure.tight_layout()
    return figure


def _as_numbers(values: Sequence[str | None]) -> list[float] | None:
    try:
        return [float(v) for v in values]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def plot_objective_vs_param(
    trials: Sequence[Any], values: Sequence[str | None], key: str, metric: str
) -> Figure:
    """Numbers on a numeric axis (logarithmic when they span over a decade), else categories."""
    figure, axis = plt.subplots(figsize=(6, 3.6))
    numbers = _as_numbers(values)
    if numbers is not None:
        _points(axis, numbers, trials)
        positive = [n for n in numbers if n > 0]
        if len(positive) == len(numbers) and max(positive) / min(positive) > 10:
            axis.set_xscale("log")
    else:
        labels = sorted({str(v) for v in values})
        _points(axis, [labels.index(str(v)) for v in values], trials)
        axis.set_xticks(range(len(labels)), labels)
    axis.set_xlabel(key)
    axis.set_ylabel(metric)
    axis.set_title(f"{metric} vs {key}")
    figure.tight_layout()
    return figure
