"""`model.conv_impl=auto`: each convolution and pooling layer runs on whichever kernel trains it
faster on this machine, Keras's native op or cnnlab's im2col layer, measured (what cuDNN's
autotuner, `torch.backends.cudnn.benchmark`, does on GPUs).

`tune(model, batch_size)` times every distinct geometry among the model's native conv, depthwise
and pool layers (input shape with the batch, window, strides, padding, filters, groups, dtype
policy) on both kernels, forward and backward as in a training step: a few warm-up steps, then
steps in turns, the fastest of each. A layer alone does not tell the whole story (TensorFlow
fuses and lays out a native conv with its neighbours, and a step also computes the loss and
updates every weight), so when some layers chose im2col, the whole model's compiled Keras train
step (what `model.fit` runs, with a cross-entropy loss and an SGD update) is timed both ways
too, and the choices stand only if the model trains faster with them: over the run's steps,
with the first step's extra time (tracing, and XLA compiling the im2col ops) counted, when the
run's length is known, so a short run does not pay more in compiling than its steps gain. It
returns a copy of the model with each layer on its kernel and the same weights, so the model
trains, saves and serves like any other.

Timings are cached in a JSON file per machine (CPU model and flags, whether TensorFlow's oneDNN
kernels are on, the GPUs, TensorFlow, Keras and the backend) under `cache_dir()`, so a second
run on the same machine measures nothing.
"""

import contextlib
import hashlib
import json
import logging
import os
import platform
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from tqdm.auto import tqdm

from cnnlab import machine as host
from cnnlab.errors import ConfigError
from cnnlab.machine import cpuinfo, onednn_enabled, package_version
from cnnlab.models.blocks.auxiliary import loss_weights
from cnnlab.models.blocks.conv import ConvLayers
from cnnlab.models.blocks.recursion import graph_limit, recursion_limit

log = logging.getLogger(__name__)

KERNELS = ("native", "im2col")
WARMUP_STEPS = 2  # the first traces and compiles (XLA, for the im2col ops)
TIMED_STEPS = 5  # per kernel, in turns; the fastest counts (the least disturbed by neighbours)
# im2col must win by this factor: a near tie stays native, the kernel Keras users already run,
# rather than flip with the timing noise of a shared machine.
IM2COL_MARGIN = 0.9
# The model with its im2col layers must beat the all-native model by this factor (its steps, and
# its first step's extra time where the run's length is known). The check's train step misjudges
# what `fit` gains by up to a third on small models: 0.79x for MobileNet without oneDNN, whose
# fit ran 1.08x native's step, and 0.81x for the default LeNet-5 run, whose training took 1.1x
# (2-core Xeon, idle). Gains beyond that, such as VGG-11's 0.28x without oneDNN, hold in `fit`.
MODEL_MARGIN = 0.75
# What the whole-model check times; part of its cache key, so that a cached check of another
# meaning is timed anew.
MODEL_CHECK = (
    "keras train_on_batch: categorical cross-entropy, SGD with momentum; steady and first step"
)
# Config keys that do not change the work of a step: left out of the cache key.
NOT_GEOMETRY = {"name", "trainable", "dtype", "data_format", "activity_regularizer"} | {
    f"{part}_{role}"
    for part in ("kernel", "bias", "depthwise")
    for role in ("initializer", "regularizer", "constraint")
}

# (kernels by name: a layer on each kernel, or the all-native model and the model with the
# layers' choices, compiled; input shape with the batch; whether the input's gradient is
# needed) -> milliseconds of one steady training step by kernel name, and of the first step
# (tracing and compiling included) by f"{kernel}_first" where it was timed.
Timer = Callable[[Mapping[str, keras.layers.Layer], tuple[int, ...], bool], dict[str, float]]


@dataclass(frozen=True)
class Choice:
    """One layer's measurement: its geometry, each kernel's step time, the kernel it runs on."""

    layer: str
    geometry: str
    native_ms: float
    im2col_ms: float
    kernel: str


def faster(ms: Mapping[str, float], margin: float) -> str:
    """im2col if it took under `margin` times native's time, else native (the kernel Keras users
    already run: a near tie stays there)."""
    return "im2col" if ms["im2col"] < margin * ms["native"] else "native"


def run_ratio(ms: Mapping[str, float], steps: int | None) -> float:
    """The training time on im2col over native's: of `steps` steady steps plus the first step's
    extra time (tracing and compiling, once per run) where the first step was timed; of one
    steady step where the run's length is unknown (`steps` None)."""

    def milliseconds(kernel: str) -> float:
        if steps is None:
            return ms[kernel]
        return steps * ms[kernel] + ms.get(f"{kernel}_first", ms[kernel]) - ms[kernel]

    return milliseconds("im2col") / milliseconds("native")


@dataclass
class Tuning:
    """What `tune` did: the model on its chosen kernels, each layer's choice, the cost."""

    model: keras.Model
    choices: list[Choice]
    batch_size: int
    seconds: float  # spent timing (0 when every geometry came from the cache)
    geometries: int  # distinct geometries among the layers
    measured: int  # geometries (and whole-model checks) timed now; the others were cached
    # The whole model's compiled train step, all native and with the layers' choices ("im2col"),
    # when some layers chose im2col: {kernel: ms, f"{kernel}_first": ms}.
    model_ms: dict[str, float] | None = None
    steps: int | None = None  # the run's training steps, where known: the check counts them

    def counts(self) -> dict[str, int]:
        """Layers per kernel, both kernels always present."""
        counted = Counter(choice.kernel for choice in self.choices)
        return {kernel: counted[kernel] for kernel in KERNELS}

    def check_ratio(self) -> float | None:
        """The whole model's training time with the layers' im2col choices over all-native's (of
        the run's steps with the first step's compiling, or of one step); None when no layer
        chose im2col (nothing to check)."""
        return run_ratio(self.model_ms, self.steps) if self.model_ms else None

    def check_verdict(self) -> str | None:
        """What the whole-model check found and did with the layers' choices; None when no
        layer chose im2col."""
        if not self.model_ms:
            return None
        verdict = "kept" if self.counts()["im2col"] else "dropped"
        over = f" over {self.steps} steps with compiling" if self.steps is not None else ""
        return f"whole model with the layers' im2col choices {self.check_ratio():.2f}x{over}: {verdict}"

    def summary(self) -> str:
        counts = self.counts()
        timed = f"timed in {self.seconds:.1f} s" if self.measured else "every timing from the cache"
        checked = f"; {self.check_verdict()}" if self.model_ms else ""
        return (
            f"conv_impl=auto: {counts['im2col']} of {len(self.choices)} conv/pool layers on "
            f"im2col, {counts['native']} native ({self.geometries} geometries at batch "
            f"{self.batch_size}, {timed}{checked})"
        )

    def table(self) -> str:
        """The per-layer table: layer, geometry, each kernel's forward+backward ms, choice."""
        rows = [("layer", "geometry", "native ms", "im2col ms", "choice")]
        rows += [
            (c.layer, c.geometry, f"{c.native_ms:.3f}", f"{c.im2col_ms:.3f}", c.kernel)
            for c in self.choices
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(
                cell.rjust(width) if 2 <= i <= 3 else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in rows
        ]
        return "\n".join([self.summary(), machine_line(), *lines, *self.model_check()])

    def model_check(self) -> list[str]:
        if not self.model_ms:
            return []
        native, chosen = self.model_ms["native"], self.model_ms["im2col"]
        lines = [
            f"whole model, one compiled train step (loss, gradients, SGD update): {native:.3f} ms "
            f"all native, {chosen:.3f} ms with the layers' im2col choices"
        ]
        if "native_first" in self.model_ms:
            lines.append(
                f"its first step (tracing, compiling): {self.model_ms['native_first']:.0f} ms all "
                f"native, {self.model_ms['im2col_first']:.0f} ms with the choices"
            )
        return lines


def tune(
    model: keras.Model,
    batch_size: int,
    cache: Path | None = None,
    timer: Timer | None = None,
    steps: int | None = None,
) -> Tuning:
    """`model` with each native conv and pool layer on its faster kernel at `batch_size`.

    `cache`: the folder of the timings file (default `cache_dir()`); `timer`: how one
    geometry is timed (default `time_kernels`; tests stub it); `steps`: the run's training
    steps, which the whole-model check weighs against the first step's compiling (None: the
    steady step alone decides).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r} is invalid: expected an integer >= 1")
    timer = timer or time_kernels
    path = Path(cache or cache_dir()) / "conv_impl" / f"{machine_digest()}.json"
    timings = read_timings(path)
    geometries = layer_geometries(model, batch_size)
    start = time.perf_counter()
    # Timing builds layers (drawing initial weights) and runs training steps: with the random
    # state kept, the tuned model and the run after it are the same whether timed or cached.
    with unchanged_random_state():
        measured = time_layers(model, geometries, timings, timer)
        on_im2col = {
            name
            for name, g in geometries.items()
            if faster(timings[_key(g)], IM2COL_MARGIN) == "im2col"
        }
        model_ms = None
        if on_im2col:
            key = _key(
                {
                    "check": MODEL_CHECK,
                    "model": model.name,
                    "parameters": model.count_params(),
                    "layers": [[_key(g), name in on_im2col] for name, g in geometries.items()],
                }
            )
            if key not in timings:
                # copies: a train step would update the weights and batch-norm statistics
                copies = {
                    "native": compiled(copy(model, set())),
                    "im2col": compiled(copy(model, on_im2col)),
                }
                timings[key] = timer(copies, (batch_size, *model.inputs[0].shape[1:]), False)
                measured += 1
            model_ms = timings[key]
            if run_ratio(model_ms, steps) >= MODEL_MARGIN:  # the layers' gains did not add up
                on_im2col = set()
    seconds = time.perf_counter() - start if measured else 0.0
    tuned = copy(model, on_im2col) if on_im2col else model
    if measured:
        write_timings(path, timings)
    choices = [
        Choice(
            name,
            describe(g),
            *(timings[_key(g)][kernel] for kernel in KERNELS),
            "im2col" if name in on_im2col else "native",
        )
        for name, g in geometries.items()
    ]
    distinct = len({_key(g) for g in geometries.values()})
    result = Tuning(tuned, choices, batch_size, seconds, distinct, measured, model_ms, steps)
    log.info(result.summary())
    return result


def layer_geometries(model: keras.Model, batch_size: int) -> dict[str, dict]:
    """{layer name: geometry} of the model's native conv, depthwise and pool layers."""
    inputs = {id(tensor) for tensor in model.inputs}
    return {
        layer.name: geometry(layer, batch_size, id(layer.input) not in inputs)
        for layer in model.layers
        if _kind(layer)
    }


def time_layers(
    model: keras.Model, geometries: dict[str, dict], timings: dict, timer: Timer
) -> int:
    """Time each geometry missing from `timings` (once, on its first layer) into it; how many."""
    todo: dict[str, str] = {}
    for name, g in geometries.items():
        if _key(g) not in timings:
            todo.setdefault(_key(g), name)
    for key, name in tqdm(todo.items(), desc="timing conv kernels", unit=" geometry", disable=None):
        g = geometries[name]
        timings[key] = timer(twins(model.get_layer(name)), tuple(g["input"]), g["input_gradient"])
    return len(todo)


def cache_dir() -> Path:
    """cnnlab's cache folder: `$XDG_CACHE_HOME/cnnlab`, else `~/.cache/cnnlab`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnnlab"


def _kind(layer: keras.layers.Layer) -> str | None:
    """conv, depthwise, max_pool or avg_pool for the layers `auto` chooses for, else None."""
    # DepthwiseConv2D is not a Conv2D in Keras 3, but test it first should that change.
    kinds = (
        (keras.layers.DepthwiseConv2D, "depthwise"),
        (keras.layers.Conv2D, "conv"),
        (keras.layers.MaxPooling2D, "max_pool"),
        (keras.layers.AveragePooling2D, "avg_pool"),
    )
    return next((kind for cls, kind in kinds if isinstance(layer, cls)), None)


def twins(layer: keras.layers.Layer) -> dict[str, keras.layers.Layer]:
    """Fresh, unbuilt copies of a native layer on each kernel, same config."""
    return {"native": layer.__class__.from_config(layer.get_config()), "im2col": im2col_twin(layer)}


def im2col_twin(layer: keras.layers.Layer) -> keras.layers.Layer:
    """The im2col layer with the native layer's config (so the same weights fit it)."""
    config = layer.get_config()
    im2col = ConvLayers("im2col")
    build = {
        "conv": im2col.conv2d,
        "depthwise": im2col.depthwise_conv2d,
        "max_pool": im2col.max_pool2d,
        "avg_pool": im2col.avg_pool2d,
    }[_kind(layer)]
    return build(**config)


def geometry(layer: keras.layers.Layer, batch_size: int, input_gradient: bool) -> dict:
    """What decides a layer's step time: its config's shape-related keys, its input shape with
    the batch, its dtype policy, and whether the step computes the input's gradient (not for a
    model's first layer, as in training)."""
    config = {k: v for k, v in layer.get_config().items() if k not in NOT_GEOMETRY}
    return {
        "kind": _kind(layer),
        **config,
        "input": [batch_size, *layer.input.shape[1:]],
        "policy": layer.dtype_policy.name,
        "input_gradient": input_gradient,
    }


def _key(g: dict) -> str:
    return json.dumps(g, sort_keys=True, default=str)


def describe(g: dict) -> str:
    """A geometry as a table cell: 'conv 3x3/1 same 16->32 at 32x32x16' and the like."""
    window = "x".join(map(str, g.get("kernel_size") or g["pool_size"]))
    stride = "x".join(map(str, sorted(set(g["strides"]))))
    _, height, width, channels = g["input"]
    shape = f"{height}x{width}x{channels}"
    if g["kind"] == "conv":
        groups = f", {g['groups']} groups" if g.get("groups", 1) > 1 else ""
        dilation = set(g.get("dilation_rate", (1,)))
        dilated = f", dilation {max(dilation)}" if dilation != {1} else ""
        what = f"conv {window}/{stride} {g['padding']} {channels}->{g['filters']}{groups}{dilated}"
    elif g["kind"] == "depthwise":
        what = f"depthwise {window}/{stride} {g['padding']} x{g['depth_multiplier']}"
    else:
        what = f"{g['kind'].replace('_', ' ')} {window}/{stride} {g['padding']}"
    policy = "" if g["policy"] == "float32" else f", {g['policy']}"
    return f"{what} at {shape}{policy}"


def copy(model: keras.Model, im2col: set[str]) -> keras.Model:
    """A copy of `model` with the layers named in `im2col` on the im2col kernel and every
    weight kept (both kernels store the same weights in the same layout)."""

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if layer.name in im2col:
            return im2col_twin(layer)
        return layer.__class__.from_config(layer.get_config())

    with recursion_limit(graph_limit(len(model.layers))):  # ResNet-1202's ~4,200 layers
        copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    if hasattr(model, "auxiliary_loss_weights"):  # models.blocks.auxiliary
        copy.auxiliary_loss_weights = model.auxiliary_loss_weights
    return copy


def compiled(model: keras.Model) -> keras.Model:
    """`model` compiled as the trainer compiles it by default (categorical cross-entropy on
    each output with its loss weight, SGD with momentum, no XLA), for the whole-model check."""
    weights = loss_weights(model)  # {} unless the model has auxiliary classifiers
    loss = keras.losses.CategoricalCrossentropy()
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss={output: loss for output in weights} if weights else loss,
        loss_weights=weights or None,
        jit_compile=False,
    )
    return model


def time_kernels(
    kernels: Mapping[str, keras.layers.Layer], input_shape: tuple[int, ...], input_gradient: bool
) -> dict[str, float]:
    """Milliseconds of one training step of each kernel on a random batch of `input_shape`:
    a layer's forward and gradients (of its weights and, if `input_gradient`, of its input), a
    compiled model's Keras train step. After WARMUP_STEPS each, TIMED_STEPS in turns, the
    fastest of each kernel; and its first step, tracing and compiling included, by
    f"{kernel}_first"."""
    steps = {
        name: fit_step(kernel, input_shape[0])
        if isinstance(kernel, keras.Model)
        else training_step(kernel, input_shape, input_gradient)
        for name, kernel in kernels.items()
    }
    first = {}
    for name, step in steps.items():
        start = time.perf_counter()
        step()
        first[f"{name}_first"] = (time.perf_counter() - start) * 1e3
        for _ in range(WARMUP_STEPS - 1):
            step()
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(TIMED_STEPS):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            best[name] = min(best[name], (time.perf_counter() - start) * 1e3)
    return {**best, **first}


def fit_step(model: keras.Model, batch_size: int) -> Callable[[], None]:
    """One step of the compiled `model`'s Keras train function (forward, loss, gradients,
    optimizer update; what `model.fit` runs per batch) on a fixed random batch with one-hot
    labels for each output; it returns the loss as NumPy, so once the device has finished."""
    rng = np.random.default_rng(0)
    images = rng.standard_normal((batch_size, *model.inputs[0].shape[1:]), dtype=np.float32)
    classes = model.outputs[0].shape[-1]
    labels = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, batch_size)]
    outputs = loss_weights(model)
    x = keras.ops.convert_to_tensor(images)
    y = keras.ops.convert_to_tensor(labels)
    y = dict.fromkeys(outputs, y) if outputs else y
    return lambda: model.train_on_batch(x, y)


def training_step(
    layer: keras.layers.Layer, input_shape: tuple[int, ...], input_gradient: bool
) -> Callable[[], None]:
    """A compiled forward + backward step of `layer` on a fixed random input, in training
    mode, which returns once the device has finished it. TensorFlow and JAX backends."""
    if not layer.built:
        layer.build(input_shape)
    x = keras.ops.convert_to_tensor(
        np.random.default_rng(0).standard_normal(input_shape, dtype=np.float32),
        dtype=layer.compute_dtype,
    )
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
            sources = (
                [x, *layer.trainable_variables] if input_gradient else layer.trainable_variables
            )
            return y, tape.gradient(y, sources)

        def run() -> None:
            step(x)
            tf.test.experimental.sync_devices()

        return run
    if backend == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        fixed = [v.value for v in layer.non_trainable_variables]

        def loss(weights, x):
            y, _ = layer.stateless_call(weights, fixed, x, training=True)
            return sum(keras.ops.sum(keras.ops.cast(t, "float32")) for t in keras.tree.flatten(y))

        grad = jax.jit(jax.grad(loss, argnums=(0, 1) if input_gradient else 0))
        return lambda: jax.block_until_ready(grad(trainable, x))
    raise ConfigError(
        f"model.conv_impl='auto' is invalid on the {backend} backend: expected KERAS_BACKEND "
        f"tensorflow or jax, or model.conv_impl native or im2col"
    )


@contextlib.contextmanager
def unchanged_random_state() -> Iterator[None]:
    """Leave Python's, NumPy's and Keras's global random state as a block found them (what
    `keras.utils.set_random_seed` seeds)."""
    from keras.src.backend.common import global_state
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR

    python, numpy = random.getstate(), np.random.get_state()
    generator = global_state.get_global_attribute(GLOBAL_SEED_GENERATOR)
    state = None if generator is None else keras.ops.convert_to_numpy(generator.state)
    try:
        yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)
        global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, generator)
        if generator is not None:
            generator.state.assign(state)


def machine() -> dict:
    """What the timings depend on besides the geometry: the hardware and the software."""
    cpu = cpuinfo()
    return {
        "cpu": cpu.get("model name") or platform.processor() or platform.machine(),
        # x86 'flags', ARM 'Features': the vector units (AVX2, AVX-512, AMX, NEON, SVE)
        "cpu_flags": hashlib.sha1(
            (cpu.get("flags") or cpu.get("Features") or "").encode()
        ).hexdigest()[:12],
        "cores": os.cpu_count(),
        "onednn": onednn_enabled(),
        "gpus": _gpus(),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "tensorflow": package_version("tensorflow"),
        "jax": package_version("jax"),
    }


def machine_digest() -> str:
    return hashlib.sha1(json.dumps(machine(), sort_keys=True).encode()).hexdigest()[:16]


def machine_line() -> str:
    """The machine as the table's second line: CPU, AVX-512, oneDNN, GPUs, versions."""
    gpus = ", ".join(_gpus()) or "no GPU"
    return f"{host.describe()}; {gpus}; Keras {keras.__version__} on {keras.backend.backend()}"


def _gpus() -> list[str]:
    if keras.backend.backend() == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return [
            tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")
        ]
    return []


def read_timings(path: Path) -> dict[str, dict[str, float]]:
    """{geometry key: {kernel: ms}} from the cache file; {} if it is missing or unreadable."""
    try:
        return json.loads(path.read_text())["timings"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def write_timings(path: Path, timings: dict[str, dict[str, float]]) -> None:
    """Write the cache file whole, atomically (parallel sweep jobs may write it at once: the
    last one wins, and a lost entry is measured again). An unwritable cache only warns."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({"machine": machine(), "timings": timings}, indent=1))
        os.replace(partial, path)
    except OSError as error:
        log.warning("conv_impl=auto: cannot cache the timings in %s (%s)", path, error.strerror)
