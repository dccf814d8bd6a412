"""What `model.conv_impl=auto` measured: each layer's training-step time on both kernels."""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from cnnlab.models.autotune import Tuning

COLORS = {"native": "tab:blue", "im2col": "tab:orange"}


def plot_kernel_choices(tuning: Tuning) -> Figure:
    """Horizontal bars, two per layer (native and im2col forward+backward ms, in model order);
    the chosen kernel's bar is solid, the other hatched and pale. The title gives the choices
    and, when some layer chose im2col, the whole-model check's verdict."""
    choices = tuning.choices
    figure = Figure(figsize=(7, 1.2 + 0.3 * len(choices)))
    axis = figure.subplots()
    rows = np.arange(len(choices))
    for offset, kernel in ((-0.2, "native"), (0.2, "im2col")):
        for row, choice in zip(rows, choices, strict=True):
            chosen = choice.kernel == kernel
            axis.barh(
                row + offset,
                getattr(choice, f"{kernel}_ms"),
                height=0.4,
                color=COLORS[kernel],
                alpha=1.0 if chosen else 0.35,
                hatch=None if chosen else "//",
            )
    axis.set_yticks(rows, [c.layer for c in choices], fontsize=7)
    axis.invert_yaxis()  # the first layer on top
    axis.set_xlabel("forward + backward ms per batch")
    handles = [Patch(color=color, label=kernel) for kernel, color in COLORS.items()]
    axis.legend(handles=handles, title="kernel (solid: chosen)", fontsize=7, title_fontsize=7)
    axis.grid(axis="x", alpha=0.3)
    counts = tuning.counts()
    title = (
        f"conv_impl=auto, batch {tuning.batch_size}: {counts['im2col']} im2col, "
        f"{counts['native']} native"
    )
    if tuning.check_verdict():
        title += f"\n{tuning.check_verdict()} (compiled train step)"
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure
