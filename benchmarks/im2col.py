"""Im2ColConv2D / Im2ColDepthwiseConv2D / Im2ColPool2D against Keras's Conv2D (also grouped),
DepthwiseConv2D and MaxPooling2D, side by side.

For each shape both layers get the same weights and inputs; their compiled forward and
forward+backward steps are timed in turns (so a busy neighbour slows both alike) and the
medians are compared. Prints time ratios (im2col / native; < 1 is faster), the im2col
layer's achieved GFLOP/s (multiply-adds x 2) and the unfolded matrix's size: the whole
batch's, and the largest chunk that the layer actually holds (`max_unfold_bytes`). Beside each
row: the CPU that other processes used during its timing, in cores (`_machine.py`; BUSY over
0.3). Whole models: `benchmarks/im2col_models.py`.

    python benchmarks/im2col.py [--repeats 15] [--max-unfold-bytes N] [--backward autodiff]
"""

import argparse
import math
import os
import statistics
import time
from dataclasses import dataclass

from cnnlab import native_logs

native_logs.quiet_by_default()  # TensorFlow reads its log level once, when it loads
native_logs.import_tensorflow()  # its start-up notices filtered to that level

import keras
import tensorflow as tf
from _machine import BUSY_CORES, busy, machine, others_load

from cnnlab.layers import Im2ColConv2D, Im2ColDepthwiseConv2D, Im2ColPool2D
from cnnlab.layers.im2col.layer import DEFAULT_MAX_UNFOLD_BYTES


@dataclass(frozen=True)
class Shape:
    name: str
    batch: int
    side: int
    channels: int
    filters: int  # 0 for a pool
    kernel: int
    stride: int = 1
    padding: str = "same"
    groups: int = 1  # filters == channels and groups == channels: a depthwise conv

    @property
    def is_pool(self) -> bool:
        return self.filters == 0

    @property
    def is_depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.channels == self.filters


SHAPES = (
    Shape("LeNet C1 5x5 28x28x1->6", 64, 28, 1, 6, 5),
    Shape("ResNet 3x3 32x32x16", 128, 32, 16, 16, 3),
    Shape("ResNet 3x3 16x16x32", 128, 16, 32, 32, 3),
    Shape("ResNet 3x3 8x8x64", 128, 8, 64, 64, 3),
    Shape("VGG 3x3 56x56x64", 16, 56, 64, 64, 3),
    Shape("VGG 3x3 28x28x256", 16, 28, 256, 256, 3),
    Shape("VGG 3x3 224x224x64, in bands", 2, 224, 64, 64, 3),
    Shape("stride 2 3x3 32x32x16->32", 128, 32, 16, 32, 3, 2),
    Shape("1x1 28x28x256->64", 32, 28, 256, 64, 1),
    Shape("max pool 2x2 32x32x64", 128, 32, 64, 0, 2, 2, "valid"),
    Shape("AlexNet conv2 5x5 27x27x96->256, 2 groups", 16, 27, 96, 256, 5, groups=2),
    Shape("MobileNet depthwise 3x3 56x56x128", 16, 56, 128, 128, 3, groups=128),
    Shape("MobileNet depthwise 3x3 stride 2 28x28x256", 16, 28, 256, 256, 3, 2, groups=256),
)


def make_layers(shape: Shape, args) -> tuple[keras.layers.Layer, keras.layers.Layer]:
    options = {"max_unfold_bytes": args.max_unfold_bytes, "backward": args.backward}
    if shape.is_pool:
        native = keras.layers.MaxPooling2D(shape.kernel, shape.stride, shape.padding)
        mine = Im2ColPool2D(shape.kernel, shape.stride, shape.padding, **options)
    elif shape.is_depthwise:
        conv = {"strides": shape.stride, "padding": shape.padding}
        native = keras.layers.DepthwiseConv2D(shape.kernel, **conv)
        mine = Im2ColDepthwiseConv2D(shape.kernel, exact_fit=False, **conv, **options)
    else:
        conv = {"strides": shape.stride, "padding": shape.padding, "groups": shape.groups}
        native = keras.layers.Conv2D(shape.filters, shape.kernel, **conv)
        mine = Im2ColConv2D(shape.filters, shape.kernel, exact_fit=False, **conv, **options)
    input_shape = (shape.batch, shape.side, shape.side, shape.channels)
    native.build(input_shape)
    mine.build(input_shape)
    mine.set_weights(native.get_weights())
    return native, mine


def steps(layer: keras.layers.Layer, x: tf.Tensor):
    """Compiled forward, and forward+backward (gradients for the input and the weights)."""
    forward = tf.function(layer)
    weights = layer.trainable_variables

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(layer(x)))
        return tape.gradient(loss, [x, *weights])

    return lambda: forward(x), lambda: forward_backward(x)


def median_ms(fns: dict, repeats: int) -> dict[str, float]:
    """Run each fn `repeats` times in turns; median wall time in ms (after a warm-up call)."""
    times = {key: [] for key in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            out = fn()
            (out[0] if isinstance(out, list) else out).numpy()
            times[key].append(time.perf_counter() - start)
    return {key: 1e3 * statistics.median(t) for key, t in times.items()}


def multiply_adds(shape: Shape) -> int:
    out = -(-shape.side // shape.stride)
    if shape.is_pool:
        return shape.batch * out * out * shape.channels * shape.kernel**2
    return (
        shape.batch * out * out * shape.filters * shape.kernel**2 * shape.channels // shape.groups
    )


def measure(shape: Shape, args) -> dict:
    native, mine = make_layers(shape, args)
    x = tf.random.stateless_normal((shape.batch, shape.side, shape.side, shape.channels), (1, 2))
    check = float(tf.reduce_max(tf.abs(native(x) - mine(x))))
    (nf, nfb), (mf, mfb) = steps(native, x), steps(mine, x)
    with others_load() as others:
        ms = median_ms({"nf": nf, "mf": mf, "nfb": nfb, "mfb": mfb}, args.repeats)
    input_shape = (shape.batch, shape.side, shape.side, shape.channels)
    out_rows = mine.compute_output_shape(input_shape)[1]
    full = shape.batch * out_rows * mine.row_unfold_bytes(input_shape)
    return {
        **ms,
        "fwd_ratio": ms["mf"] / ms["nf"],
        "fb_ratio": ms["mfb"] / ms["nfb"],
        "gflops": 3 * 2 * multiply_adds(shape) / (ms["mfb"] * 1e6),  # fwd + dX + dW
        "full_mb": full / 2**20,
        "chunk_mb": mine.unfold_bytes(input_shape) / 2**20,
        "max_abs_diff": check,
        "others": others.cores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--max-unfold-bytes",
        type=lambda v: None if v == "none" else int(v),
        default=DEFAULT_MAX_UNFOLD_BYTES,
        help="bytes per chunk, or 'none'",
    )
    parser.add_argument("--backward", default="col2im", choices=("col2im", "autodiff"))
    parser.add_argument("--only", default="", help="substring of the shape names to run")
    args = parser.parse_args()

    print(
        f"{machine()}, Keras {keras.__version__}; "
        f"load average at start {os.getloadavg()[0]:.2f}; rows where other processes used over "
        f"{BUSY_CORES} cores are BUSY: not idle ratios; backward={args.backward}, max_unfold_bytes={args.max_unfold_bytes}, "
        f"medians of {args.repeats}"
    )
    header = (
        "| shape | batch | native fwd ms | im2col fwd ms | fwd ratio | native fwd+bwd ms "
        "| im2col fwd+bwd ms | fwd+bwd ratio | im2col GFLOP/s | unfold MB (batch / chunk) "
        "| others' load, cores |"
    )
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    conv_ratios = []
    for shape in SHAPES:
        if args.only not in shape.name:
            continue
        r = measure(shape, args)
        assert r["max_abs_diff"] < 1e-3, (shape.name, r["max_abs_diff"])
        if not shape.is_pool and shape.groups == 1:  # the geomean's set; groups are rows apart
            conv_ratios.append((r["fb_ratio"], shape.name))
        gflops = "" if shape.is_pool else f"{r['gflops']:.0f}"
        print(
            f"| {shape.name} | {shape.batch} | {r['nf']:.2f} | {r['mf']:.2f} | {r['fwd_ratio']:.2f}x "
            f"| {r['nfb']:.2f} | {r['mfb']:.2f} | {r['fb_ratio']:.2f}x | {gflops} "
            f"| {r['full_mb']:.1f} / {r['chunk_mb']:.1f} | {r['others']:.2f}{busy(r['others'])} |",
            flush=True,
        )
    if conv_ratios:
        geomean = math.exp(statistics.fmean(math.log(r) for r, _ in conv_ratios))
        worst = max(conv_ratios)
        print(
            f"\nconv forward+backward time ratio im2col / native (ungrouped shapes): geometric mean {geomean:.2f}x, "
            f"worst {worst[0]:.2f}x ({worst[1]})"
        )


if __name__ == "__main__":
    main()
