"""The lists of choices a model option takes, defined once for the models that act on them and
for the config schemas that check them when a run is composed (before Keras loads).

Nothing here imports Keras, Hydra or the config package: `cnnlab.models` and `cnnlab.config`
both import it.
"""

from cnnlab.checks import require

# 'auto' builds the native layers; `cnnlab.models.autotune.tune` then moves each to whichever
# kernel trains it faster on this machine.
CONV_IMPLS = ("native", "im2col", "auto")
# relu6, min(max(x, 0), 6): the released MobileNet's (TF-slim, keras.applications)
ACTIVATIONS = ("relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "sigmoid", "tanh", "maxout")
# The leaky ReLU's slope below zero: 0.01 in Maas et al. (2013), who introduced it; the notes
# write max(0.1x, x). Keras's default of 0.3 is neither. `model.leaky_slope` sets it.
LEAKY_SLOPE = 0.01
# He et al. (2016), Sec. 3.3: A zero-pads the identity, B projects with a 1x1 conv; none: a plain
# net (Sec. 4.1)
SHORTCUTS = ("A", "B", "none")
STEMS = ("auto", "imagenet", "small")  # cnnlab.models.blocks.stems
LENET_FLAVORS = ("modern", "original")  # ReLU and max pool | the paper's tanh and average pool
FIRST_PADDINGS = ("auto", "same", "valid")  # LeNet-5's C1

# `model.init` (cnnlab.models.init): a named scheme or normal:<std>
INITS = (
    "auto",
    "keras",
    "he_normal",
    "he_uniform",
    "glorot_uniform",
    "glorot_normal",
    "lecun_normal",
)
DEFAULT_INIT = "auto"
NORMAL = "normal:"  # normal:<std>, a fixed-std Gaussian

# The builders' options whose values are one of a list (`model.<option>`)
MODEL_CHOICES: dict[str, tuple[str, ...]] = {
    "conv_impl": CONV_IMPLS,
    "activation": ACTIVATIONS,
    "shortcut": SHORTCUTS,
    "stem": STEMS,
    "flavor": LENET_FLAVORS,
    "first_padding": FIRST_PADDINGS,
}


def normal_std(init: str) -> float | None:
    """The std of 'normal:<std>', or None for a named scheme."""
    if not isinstance(init, str) or not init.startswith(NORMAL):
        return None
    try:
        return float(init.removeprefix(NORMAL))
    except ValueError:
        return -1.0  # not a number: check_init rejects it


def check_init(init: str, key: str = "model.init") -> None:
    """Raise ConfigError unless `init` is one of INITS or normal:<std> with std > 0."""
    std = normal_std(init)
    valid = init in INITS if std is None else std > 0
    require(
        valid,
        key,
        init,
        f"one of {', '.join(INITS)}, or normal:<std> with std > 0 (e.g. normal:0.01)",
    )
