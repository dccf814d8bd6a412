"""The ensemble's report: a table of members and combinations, and a bar chart."""

from collections.abc import Mapping

from matplotlib.figure import Figure


def accuracy_table(members: Mapping[str, float], combined: Mapping[str, float]) -> str:
    """A Markdown table: each member's test accuracy, then each combination's."""
    rows = ["| model | test accuracy |", "| --- | ---: |"]
    rows += [f"| {name} | {value:.4f} |" for name, value in members.items()]
    rows += [f"| **ensemble ({name})** | **{value:.4f}** |" for name, value in combined.items()]
    return "\n".join(rows) + "\n"


def accuracy_chart(members: Mapping[str, float], combined: Mapping[str, float]) -> Figure:
    """Bars of test accuracy: members in grey, combinations in colour; the y axis starts near
    the worst bar so that small gains are visible."""
    names = [*members, *(f"ensemble\n({name})" for name in combined)]
    values = [*members.values(), *combined.values()]
    colours = ["0.6"] * len(members) + ["tab:blue", "tab:orange", "tab:green"][: len(combined)]
    figure = Figure(figsize=(max(5.0, 0.9 * len(names)), 3.5), layout="constrained")
    axes = figure.subplots()
    bars = axes.bar(range(len(names)), values, color=colours)
    axes.bar_label(bars, fmt="%.3f", fontsize=8)
    axes.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    axes.set_ylim(max(0.0, min(values) - 0.05), min(1.0, max(values) + 0.02))
    axes.set_ylabel("test accuracy")
    axes.set_title("members and ensemble")
    return figure
