"""`visualize(cfg)`: one visualization of a run's model (or a freshly initialized one), logged to MLflow.

Everything that can fail on bad input (run id, model, layer names, indices, files) is resolved
and every picture is drawn before any run is written to, so a failed visualization logs nothing.
"""

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from matplotlib.figure import Figure

from cnnlab import models, tracking
from cnnlab.checks import require_choice
from cnnlab.config import TrainConfig
from cnnlab.config.run import VisualizeConfig
from cnnlab.config.viz import (
    ActivationMaxConfig,
    DeepDreamConfig,
    EmbeddingConfig,
    FeatureMapsConfig,
    FiltersConfig,
    KernelsConfig,
    SaliencyConfig,
    StyleTransferConfig,
    VizConfig,
)
from cnnlab.errors import ConfigError
from cnnlab.viz import ascent, embedding, feature_maps, filters, kernels, saliency, style
from cnnlab.viz.figures import image_grid, stretch
from cnnlab.viz.inputs import (
    Inputs,
    LabelledSplit,
    Normalization,
    pattern,
    photo,
    read_image,
    run_split,
    select,
    split_count,
    standardized,
)
from cnnlab.viz.taps import (
    find_layer,
    first_conv_of_each_resolution,
    logits_model,
    named_or_last_conv,
)

log = logging.getLogger(__name__)


@dataclass
class Subject:
    """The model to look at, and where its images come from."""

    model: keras.Model
    run_id: str | None  # the training run's; None for a random model
    run_cfg: TrainConfig | None  # the training run's config; None for a random model
    label: str  # for titles: the model and its run
    normalization: Normalization | None = None  # the run's (mean, std) when it normalized


@dataclass
class Pictures:
    """What a visualization produced: figures by file name, and numbers worth logging."""

    figures: dict[str, Figure] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class VizResult:
    name: str
    pictures: Pictures
    seconds: float
    location: str | None  # where the PNGs were logged (None with log=false)
    output_dir: Path


def load_subject(cfg: VisualizeConfig, settings: VizConfig) -> Subject:
    """The run's trained model, or `random:<name>` built fresh from the registry."""
    if settings.model is not None:
        name = settings.model.removeprefix("random:")
        require_choice("viz.model", f"random:{name}", [f"random:{m}" for m in models.available()])
        keras.utils.set_random_seed(settings.seed)
        model = models.inference_model(
            models.build(name, tuple(settings.input_shape), settings.num_classes)
        )
        return Subject(model, None, None, f"random {name}")
    if not cfg.run:
        raise ConfigError(
            "run=None is invalid: expected a training run's id (make visualize RUN=<id>), "
            "or set viz.model=random:<model name>"
        )
    run_id = tracking.find_run_id(str(cfg.run), cfg.tracking)
    model = tracking.load_network(run_id, cfg.tracking)
    run_cfg = tracking.run_config(run_id, cfg.tracking)
    if settings.data_dir is not None:
        run_cfg.data.data_dir = settings.data_dir
    logged = tracking.model_metadata(run_id, cfg.tracking).get("normalization")
    normalization = (logged["mean"], logged["std"]) if logged else None
    return Subject(model, run_id, run_cfg, f"{model.name}, run {run_id[:8]}", normalization)


def inputs_for(subject: Subject, settings: VizConfig) -> Inputs:
    """The chosen images: from the run's dataset when there is a run, else files and patterns."""
    split: LabelledSplit | None = None
    if subject.run_cfg is not None:
        split = run_split(subject.run_cfg, settings.images.split, split_count(settings.images))
    shape = tuple(subject.model.inputs[0].shape[1:])
    return select(settings.images, shape, split, subject.normalization)


def predicted(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """The predicted classes (the largest logit is the largest probability)."""
    return keras.ops.convert_to_numpy(logits_model(model)(images, training=False)).argmax(axis=-1)


def class_name(inputs: Inputs, label: int) -> str:
    return inputs.class_names[label] if label < len(inputs.class_names) else str(label)


def draw_filters(subject: Subject, settings: FiltersConfig) -> Pictures:
    layer, kernel = filters.conv_kernel(subject.model, settings.layer)
    figure = filters.plot_filters(kernel, f"{subject.label}: {layer}", settings.max_filters)
    return Pictures({f"filters_{layer}.png": figure})


def draw_feature_maps(subject: Subject, settings: FeatureMapsConfig) -> Pictures:
    layers = feature_maps.chosen_layers(subject.model, list(settings.layers))
    inputs = inputs_for(subject, settings)
    maps = feature_maps.feature_maps(subject.model, layers, inputs.images)
    return Pictures(
        {
            f"feature_maps_{layer.name}.png": feature_maps.plot_feature_maps(
                f"{subject.label}: {layer.name}",
                values,
                inputs.images,
                inputs.names,
                settings.max_channels,
            )
            for layer, values in zip(layers, maps, strict=True)
        }
    )


def ascent_settings(settings: ActivationMaxConfig | DeepDreamConfig) -> ascent.AscentSettings:
    return ascent.AscentSettings(
        steps=settings.steps,
        lr=settings.lr,
        l2=settings.l2,
        l1=settings.l1,
        jitter=settings.jitter,
        blur_every=settings.blur_every,
        blur_sigma=settings.blur_sigma,
    )


def draw_activation_max(subject: Subject, settings: ActivationMaxConfig) -> Pictures:
    units = list(settings.units)
    if settings.target == "filter":
        layer = named_or_last_conv(subject.model, settings.layer, "viz.layer")
        what = f"{layer.name} filter"
    else:
        layer, what = None, "class"
    result = ascent.maximize(
        subject.model, settings.target, layer, units, ascent_settings(settings), settings.seed
    )
    titles = [
        f"{what} {u}\n{b:.2g} -> {a:.2g}"
        for u, b, a in zip(units, result.before, result.after, strict=True)
    ]
    tiles = [stretch(image) for image in result.images]
    columns = min(len(tiles), 8)
    rows = [tiles[i : i + columns] for i in range(0, len(tiles), columns)]
    figure = image_grid(
        rows,
        f"{subject.label}: inputs that maximize each {what} "
        f"({settings.steps} steps, L2 {settings.l2:g}, L1 {settings.l1:g}); titles: objective start -> end",
        column_labels=[titles[i] for i in range(columns)],
        tile=1.4,
    )
    for r, row in enumerate(rows[1:], start=1):  # titles of the further rows
        for c in range(len(row)):
            figure.axes[r * columns + c].set_title(titles[r * columns + c], fontsize=7)
    name = f"{layer.name}_filters" if layer is not None else "classes"
    return Pictures(
        {f"activation_max_{name}.png": figure},
        {
            "objective_before": float(np.mean(result.before)),
            "objective_after": float(np.mean(result.after)),
        },
    )


def draw_saliency(subject: Subject, settings: SaliencyConfig) -> Pictures:
    inputs = inputs_for(subject, settings)
    logits = logits_model(subject.model)
    width = logits.outputs[0].shape[-1]
    if settings.class_index is not None and settings.class_index >= width:
        raise ConfigError(
            f"viz.class_index={settings.class_index} is out of range: the model has {width} classes"
        )
    guesses = predicted(subject.model, inputs.images)
    classes = (
        np.full(len(guesses), settings.class_index) if settings.class_index is not None else guesses
    )
    layer = (
        named_or_last_conv(subject.model, settings.layer, "viz.layer")
        if "gradcam" in settings.methods
        else None
    )
    maps: dict[str, np.ndarray] = {}
    for method in settings.methods:
        log.info("saliency: %s on %d images", method, len(classes))
        if method == "vanilla":
            maps[method] = saliency.vanilla(logits, inputs.images, classes)
        elif method == "smoothgrad":
            maps[method] = saliency.smoothgrad(
                logits, inputs.images, classes, settings.samples, settings.noise, settings.seed
            )
        else:
            maps[method] = saliency.gradcam(subject.model, layer, inputs.images, classes)
    captions = [
        f"class {class_name(inputs, c)} (pred {class_name(inputs, g)})"
        for c, g in zip(classes, guesses, strict=True)
    ]
    figure = saliency.plot_saliency(inputs.images, maps, inputs.names, captions)
    return Pictures({"saliency.png": figure})


def draw_deepdream(subject: Subject, settings: DeepDreamConfig) -> Pictures:
    layer = named_or_last_conv(subject.model, settings.layer, "viz.layer")
    inputs = inputs_for(subject, settings)
    rows, before, after = [], [], []
    for image in inputs.images:
        dream, start, end = ascent.deepdream(
            subject.model,
            layer,
            image,
            settings.octaves,
            settings.octave_scale,
            ascent_settings(settings),
            settings.seed,
        )
        rows.append([stretch(image), stretch(dream)])
        before.append(start)
        after.append(end)
    figure = image_grid(
        rows,
        f"{subject.label}: DeepDream on {layer.name} ({settings.octaves} octaves x {settings.steps} steps)",
        row_labels=[
            f"{n}\n{b:.2g} -> {a:.2g}" for n, b, a in zip(inputs.names, before, after, strict=True)
        ],
        column_labels=["input", "dream"],
        tile=1.8,
    )
    return Pictures(
        {f"deepdream_{layer.name}.png": figure},
        {"objective_before": float(np.mean(before)), "objective_after": float(np.mean(after))},
    )


def style_image(
    spec: str, shape: tuple[int, int, int], normalization: Normalization | None
) -> np.ndarray:
    if spec.startswith("pattern:"):
        image = pattern(spec.removeprefix("pattern:"), shape)
    elif spec.startswith("photo:"):
        image = photo(spec.removeprefix("photo:"), shape)
    else:
        image = read_image(spec, shape)
    return standardized(image, normalization)


def draw_style_transfer(subject: Subject, settings: StyleTransferConfig) -> Pictures:
    model = subject.model
    content_layer = named_or_last_conv(model, settings.content_layer, "viz.content_layer")
    style_layers = (
        [find_layer(model, name, "viz.style_layers") for name in settings.style_layers]
        if settings.style_layers
        else first_conv_of_each_resolution(model)
    )
    shape = tuple(model.inputs[0].shape[1:])
    content = inputs_for(subject, settings).images[0]
    style_pixels = style_image(settings.style, shape, subject.normalization)
    loss = style.StyleLoss(
        model, content_layer, style_layers, content, style_pixels, settings.alpha, settings.beta
    )
    result = style.transfer(loss, content, style_pixels, settings.steps, settings.lr, settings.seed)
    names = [layer.name for layer in style_layers]
    style_names = (
        ", ".join(names) if len(names) <= 3 else f"{len(names)} layers {names[0]}..{names[-1]}"
    )
    title = (
        f"{subject.label}: content {content_layer.name}, style {style_names}\n"
        f"alpha {settings.alpha:g}, beta {settings.beta:g}, {settings.steps} steps"
    )
    return Pictures(
        {"style_transfer.png": style.plot_style_transfer(content, style_pixels, result, title)},
        {"loss_before": result.losses[0], "loss_after": result.losses[-1]},
    )


def draw_embedding(subject: Subject, settings: EmbeddingConfig) -> Pictures:
    if subject.run_cfg is None:
        raise ConfigError("viz=embedding needs a run's labelled dataset: give RUN=<run id>")
    split = run_split(subject.run_cfg, settings.images.split, settings.max_points)
    points = embedding.features(subject.model, split.images, settings.layer)
    projections, scores = {}, {}
    for method in settings.methods:
        log.info("embedding: %s of %d points x %d features", method, *points.shape)
        projected = (
            embedding.pca(points)
            if method == "pca"
            else embedding.tsne(points, settings.perplexity, settings.seed)
        )
        projections[method] = projected
        scores[method] = embedding.knn_accuracy(projected, split.labels, settings.neighbors)
    figure = embedding.plot_embedding(
        projections,
        split.labels,
        split.class_names,
        scores,
        settings.neighbors,
        f"{subject.label}: {len(points)} {settings.images.split} images, "
        f"{points.shape[1]} features; chance {1 / len(split.class_names):.2f}",
    )
    return Pictures({"embedding.png": figure}, {f"knn_accuracy_{m}": s for m, s in scores.items()})


def draw_kernels(subject: None, settings: KernelsConfig) -> Pictures:
    """Hand-designed kernels on skimage's photographs; there is no network to look at."""
    shape = (settings.side, settings.side, 1)
    photos = {name: photo(name, shape)[..., 0] for name in settings.photos}
    outputs = {
        name: {p: kernels.apply(kernels.KERNELS[name], image) for p, image in photos.items()}
        for name in settings.kernels
    }
    title = (
        "hand-designed kernels through cnnlab's Im2ColConv2D\n"
        "(a conv layer cross-correlates: each kernel is applied as drawn)"
    )
    mean_abs = {
        f"mean_abs_{name}": float(np.mean([np.abs(out).mean() for out in by_photo.values()]))
        for name, by_photo in outputs.items()
    }
    return Pictures({"kernels.png": kernels.plot_kernels(photos, outputs, title)}, mean_abs)


DRAWERS: dict[str, Callable[[Subject | None, VizConfig], Pictures]] = {
    "filters": draw_filters,
    "feature_maps": draw_feature_maps,
    "activation_max": draw_activation_max,
    "saliency": draw_saliency,
    "deepdream": draw_deepdream,
    "style_transfer": draw_style_transfer,
    "embedding": draw_embedding,
    "kernels": draw_kernels,
}
NO_MODEL = ("kernels",)  # visualizations of fixed, hand-made filters


def visualize(cfg: VisualizeConfig, output_dir: Path | None = None) -> VizResult:
    """Draw `cfg.viz` for run `cfg.run` (or a random model), save the PNGs, then log them."""
    settings: VizConfig = cfg.viz
    start = time.perf_counter()
    subject = None if settings.name in NO_MODEL else load_subject(cfg, settings)
    pictures = DRAWERS[settings.name](subject, settings)
    seconds = time.perf_counter() - start
    output_dir = Path(output_dir or tempfile.mkdtemp(prefix="cnnlab-viz-"))
    output_dir.mkdir(parents=True, exist_ok=True)
    for filename, figure in pictures.figures.items():
        figure.savefig(output_dir / filename, dpi=100)
    log.info(
        "%s: %d picture(s) in %s (%.1f s)",
        settings.name,
        len(pictures.figures),
        output_dir,
        seconds,
    )
    location = None
    if cfg.log:
        location = tracking.log_visualization(
            cfg.tracking,
            subject.run_id if subject else None,
            tracking.run_name("viz", settings.name),
            {"viz": settings.name, "model": subject.model.name if subject else "none"},
            {f"viz.{k}": v for k, v in tracking.flatten(settings).items()},
            {**pictures.metrics, "viz_seconds": seconds},
            output_dir,
            f"viz/{settings.name}",
        )
        log.info("%s: logged to %s", settings.name, location)
    return VizResult(settings.name, pictures, seconds, location, output_dir)
