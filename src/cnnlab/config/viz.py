"""Schemas of the `viz` group: one dataclass per visualization, registered in Hydra's ConfigStore.

`conf/viz/<name>.yaml` starts with `defaults: [<name>_schema, _self_]` and holds only overrides.
Types are checked when Hydra composes; ranges when `OmegaConf.to_object` builds the dataclass
(its `__post_init__`), before any work starts. Stdlib and omegaconf only: no TensorFlow here.
"""

from dataclasses import dataclass, field
from typing import Any

from cnnlab.errors import ConfigError

PATTERNS = ("rings", "checks", "stripes")
# Photographs in scikit-image's wheel (skimage.data), offline: the visualizations' real images.
PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon", "brick", "grass")
DEFAULT_PHOTOS = ("astronaut", "coffee", "chelsea")  # a random model's images, with no run
# Hand-designed kernels of viz=kernels (cnnlab.viz.kernels.KERNELS).
KERNEL_NAMES = (
    "box",
    "gaussian",
    "sobel_x",
    "sobel_y",
    "prewitt_x",
    "prewitt_y",
    "vertical_edge",
    "sharpen",
)
SALIENCY_METHODS = ("vanilla", "smoothgrad", "gradcam")
EMBEDDING_METHODS = ("pca", "tsne")
TARGETS = ("filter", "class")
SPLITS = ("test", "val")  # evaluation-transformed splits (train is augmented)
STAGES = "stages"  # in feature_maps.layers: the last layer of every spatial resolution


def _require(key: str, value: Any, valid: bool, allowed: str) -> None:
    if not valid:
        raise ConfigError(f"viz.{key}={value!r} is invalid: expected {allowed}")


def _at_least(key: str, value: float, low: float) -> None:
    _require(key, value, value >= low, f"a number >= {low}")


def _subset(key: str, values: list[str], allowed: tuple[str, ...]) -> None:
    valid = bool(values) and all(v in allowed for v in values)
    _require(key, list(values), valid, "a non-empty list of " + ", ".join(allowed))


@dataclass
class ImagesConfig:
    """Input images: from the run's dataset (by index into `split`, or the first of each class),
    from files (resized to the model's input with a notice), scikit-image's photographs, or drawn
    patterns. Without a run's dataset and with none of the others, DEFAULT_PHOTOS."""

    split: str = "test"  # test | val
    indices: list[int] = field(default_factory=lambda: [0, 1, 2, 3])
    classes: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    photos: list[str] = field(default_factory=list)  # skimage.data's: astronaut | coffee | ...
    patterns: list[str] = field(default_factory=list)  # rings | checks | stripes

    def __post_init__(self) -> None:
        _require("images.split", self.split, self.split in SPLITS, "one of " + ", ".join(SPLITS))
        for index in self.indices:
            _at_least("images.indices", index, 0)
        for label in self.classes:
            _at_least("images.classes", label, 0)
        for name in self.patterns:
            _require("images.patterns", name, name in PATTERNS, "names from " + ", ".join(PATTERNS))
        for name in self.photos:
            _require("images.photos", name, name in PHOTOS, "names from " + ", ".join(PHOTOS))


@dataclass
class VizConfig:
    """What every visualization shares: which model, which inputs, the seed."""

    name: str = ""
    # null: the run's trained model (RUN=<id>); random:<registry name>: freshly initialized
    # (e.g. random:vgg11; random filters already synthesize textures: Ustyuzhaninov et al., 2016)
    model: str | None = None
    input_shape: list[int] = field(default_factory=lambda: [64, 64, 3])  # of a random model
    num_classes: int = 10  # of a random model
    seed: int = 0
    data_dir: str | None = None  # replaces the run's data.data_dir (data prepared elsewhere)
    images: ImagesConfig = field(default_factory=ImagesConfig)

    def __post_init__(self) -> None:
        if self.model is not None:
            _require(
                "model",
                self.model,
                self.model.startswith("random:") and len(self.model) > 7,
                "null (the run's model) or random:<model name>",
            )
        shape = list(self.input_shape)
        _require(
            "input_shape",
            shape,
            len(shape) == 3 and min(shape) >= 1 and shape[2] in (1, 3),
            "[height, width, channels] with channels 1 or 3",
        )
        _at_least("num_classes", self.num_classes, 2)
        _at_least("seed", self.seed, 0)


@dataclass
class FiltersConfig(VizConfig):
    """The kernels of one convolution (default: the first) as a grid of tiles."""

    name: str = "filters"
    layer: str | None = None  # null: the first convolution
    max_filters: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        _at_least("max_filters", self.max_filters, 1)


@dataclass
class FeatureMapsConfig(VizConfig):
    """Activations of chosen layers for chosen images: one grid per layer."""

    name: str = "feature_maps"
    layers: list[str] = field(default_factory=lambda: [STAGES])  # names, or `stages`
    max_channels: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        _require("layers", list(self.layers), bool(self.layers), "a non-empty list of layer names")
        _at_least("max_channels", self.max_channels, 1)


@dataclass
class AscentConfig(VizConfig):
    """Gradient ascent on the input: step size, regularization, jitter and blur."""

    steps: int = 100
    lr: float = 0.05  # step along the gradient divided by its RMS
    l2: float = 1e-3  # weight of the L2 penalty on the image
    l1: float = 0.0  # weight of the L1 penalty
    jitter: int = 2  # random shift (pixels) before each step
    blur_every: int = 0  # Gaussian blur every k steps (0: never)
    blur_sigma: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        _at_least("steps", self.steps, 1)
        _require("lr", self.lr, self.lr > 0, "a number > 0")
        for key in ("l2", "l1", "jitter", "blur_every", "blur_sigma"):
            _at_least(key, getattr(self, key), 0)


@dataclass
class ActivationMaxConfig(AscentConfig):
    """Find the x that maximizes a filter's mean activation or a class score (its logit)."""

    name: str = "activation_max"
    target: str = "filter"  # filter | class
    layer: str | None = None  # of a filter target; null: the last convolution
    units: list[int] = field(default_factory=lambda: list(range(8)))  # filters or classes

    def __post_init__(self) -> None:
        super().__post_init__()
        _require("target", self.target, self.target in TARGETS, "one of " + ", ".join(TARGETS))
        _require("units", list(self.units), bool(self.units), "a non-empty list of indices")
        for unit in self.units:
            _at_least("units", unit, 0)


@dataclass
class SaliencyConfig(VizConfig):
    """Which input pixels a class score depends on."""

    name: str = "saliency"
    methods: list[str] = field(default_factory=lambda: list(SALIENCY_METHODS))
    class_index: int | None = None  # null: each image's predicted class
    samples: int = 25  # SmoothGrad's noisy copies
    noise: float = 0.15  # SmoothGrad's noise std over the image's value range
    layer: str | None = None  # Grad-CAM's; null: the last convolution

    def __post_init__(self) -> None:
        super().__post_init__()
        _subset("methods", self.methods, SALIENCY_METHODS)
        if self.class_index is not None:
            _at_least("class_index", self.class_index, 0)
        _at_least("samples", self.samples, 1)
        _at_least("noise", self.noise, 0)


@dataclass
class DeepDreamConfig(AscentConfig):
    """Amplify what a layer sees in an image (its mean squared activation), coarse to full scale."""

    name: str = "deepdream"
    layer: str | None = None  # null: the last convolution
    octaves: int = 3
    octave_scale: float = 1.4
    steps: int = 20  # per octave
    lr: float = 0.01
    l2: float = 0.0
    jitter: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        _at_least("octaves", self.octaves, 1)
        _require("octave_scale", self.octave_scale, self.octave_scale > 1, "a number > 1")


@dataclass
class StyleTransferConfig(VizConfig):
    """Gatys et al. (2016): L_total = alpha L_content + beta L_style, optimizing the image."""

    name: str = "style_transfer"
    style: str = "photo:coffee"  # an image file, photo:<skimage.data name> or pattern:<stripes|...>
    content_layer: str | None = None  # null: the last convolution
    # empty: the first convolution at each resolution (the paper's conv1_1, conv2_1, ...)
    style_layers: list[str] = field(default_factory=list)
    # Gatys et al.'s losses (cnnlab.viz.style), so their ratios carry over: alpha/beta = 1e-3
    alpha: float = 1.0
    beta: float = 1e3
    steps: int = 100
    lr: float = 0.05  # Adam's, times the images' value range

    def __post_init__(self) -> None:
        super().__post_init__()
        kind, _, name = self.style.partition(":")
        known = {"pattern": PATTERNS, "photo": PHOTOS}
        if kind in known:
            _require(
                "style",
                self.style,
                name in known[kind],
                f"a file, photo:<{'|'.join(PHOTOS)}> or pattern:<{'|'.join(PATTERNS)}>",
            )
        _at_least("alpha", self.alpha, 0)
        _at_least("beta", self.beta, 0)
        _at_least("steps", self.steps, 1)
        _require("lr", self.lr, self.lr > 0, "a number > 0")


@dataclass
class EmbeddingConfig(VizConfig):
    """2-D projections (PCA, t-SNE) of penultimate-layer features, coloured by class."""

    name: str = "embedding"
    methods: list[str] = field(default_factory=lambda: list(EMBEDDING_METHODS))
    layer: str | None = None  # null: the input of the last Dense layer (the penultimate features)
    max_points: int = 500
    perplexity: float = 30.0
    neighbors: int = 5  # the k of the k-NN accuracy that scores class separation

    def __post_init__(self) -> None:
        super().__post_init__()
        _subset("methods", self.methods, EMBEDDING_METHODS)
        _at_least("max_points", self.max_points, 10)
        _require("perplexity", self.perplexity, self.perplexity > 0, "a number > 0")
        _at_least("neighbors", self.neighbors, 1)


@dataclass
class KernelsConfig(VizConfig):
    """Classic hand-designed filters (blur, edges, sharpen) on photographs, through cnnlab's
    convolution layer: input, kernel and output side by side. Needs no run or model."""

    name: str = "kernels"
    photos: list[str] = field(default_factory=lambda: ["camera", "astronaut", "coffee"])
    kernels: list[str] = field(default_factory=lambda: list(KERNEL_NAMES))
    side: int = 256  # the photos are centre-cropped to squares of this side (grey)

    def __post_init__(self) -> None:
        super().__post_init__()
        _subset("photos", self.photos, PHOTOS)
        _subset("kernels", self.kernels, KERNEL_NAMES)
        _at_least("side", self.side, 8)


VIZ_SCHEMAS: dict[str, type[VizConfig]] = {
    schema.name: schema
    for schema in (
        FiltersConfig,
        FeatureMapsConfig,
        ActivationMaxConfig,
        SaliencyConfig,
        DeepDreamConfig,
        StyleTransferConfig,
        EmbeddingConfig,
        KernelsConfig,
    )
}
