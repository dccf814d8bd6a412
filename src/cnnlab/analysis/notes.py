"""The lecture notes' worked numbers, recomputed with cnnlab's own code (`make notes`).

cnnlab follows CNN lecture notes derived from CS231n (with Andrew Ng's and Hung-yi Lee's
examples and the papers' tables they quote). Each row here takes one worked example, the value
the notes print, and the value cnnlab's code computes: the NumPy reference ops, the layers,
`cnnlab.models.build` and `cnnlab.analysis.profile`. A row is a **match** when the two agree to
the notes' printed precision, an **erratum** when the notes' value is wrong (the row says why,
and cnnlab computes the corrected value), and a **MISMATCH** otherwise: a bug in cnnlab or an
erratum nobody has documented yet. `make notes` and its test fail on a mismatch.
"""

import functools
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import keras
import numpy as np

from cnnlab import models, reference
from cnnlab.analysis.profile import ModelProfile, profile, shapes_only
from cnnlab.errors import GeometryError
from cnnlab.layers import Im2ColConv2D, LocallyConnected2D
from cnnlab.models.googlenet import INCEPTION_TABLE, InceptionFilters, NaiveFilters, single_module

MATCH, ERRATUM, MISMATCH = "match", "erratum", "MISMATCH"
STATUSES = (MATCH, ERRATUM, MISMATCH)
_SCALES = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}


@dataclass(frozen=True)
class Printed:
    """A number as the notes print it ("3.2M", "34,848", "28%"): its value and the half unit
    of its last printed digit, the precision to which a recomputed value must agree."""

    text: str
    value: float
    tolerance: float

    @classmethod
    def of(cls, text: str, tolerance: float | None = None) -> "Printed":
        found = re.fullmatch(r"(-?[\d,]*\.?\d+)\s*([KMG]?)\s*(%|MB)?", text)
        if not found:
            raise ValueError(f"not a printed number: {text!r}")
        digits, suffix, unit = found.groups()
        scale = _SCALES[suffix]
        decimals = len(digits.partition(".")[2])
        value = float(digits.replace(",", "")) * scale
        if tolerance is None:
            # A plain count is exact; a rounded figure ("3.2M", "800K", "28%") is good to half
            # a unit of its last significant digit (trailing zeros of "800K" are not).
            whole = digits.replace(",", "").partition(".")[0]
            zeros = 0 if decimals else len(whole) - len(whole.rstrip("0"))
            rounded = bool(suffix or decimals or unit)
            tolerance = 0.5 * 10.0 ** (zeros - decimals) * scale if rounded else 0.0
        return cls(text, value, tolerance)

    def agrees(self, computed: float) -> bool:
        return abs(computed - self.value) <= self.tolerance


@dataclass(frozen=True)
class Row:
    """One worked example: what the notes print, what cnnlab computes, and the verdict."""

    section: str
    topic: str
    notes: str
    cnnlab: str
    status: str
    why: str = ""  # an erratum's reason, or how a match was computed when that is not obvious


@dataclass(frozen=True)
class NotesTable:
    rows: tuple[Row, ...]

    def count(self, status: str) -> int:
        return sum(row.status == status for row in self.rows)

    @property
    def mismatches(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.status == MISMATCH)

    def summary(self) -> str:
        return (
            f"{len(self.rows)} worked numbers of the notes: {self.count(MATCH)} match, "
            f"{self.count(ERRATUM)} errata, {self.count(MISMATCH)} mismatches"
        )

    def text(self) -> str:
        """A fixed-width table, one block per section, errata explained under their row."""
        widths = [max(len(getattr(r, key)) for r in self.rows) for key in ("topic", "notes")]
        widths = [max(w, len(h)) for w, h in zip(widths, ("topic", "notes"), strict=True)]
        lines = []
        for section, rows in self._sections():
            lines += ["", section]
            for row in rows:
                cells = (row.topic.ljust(widths[0]), row.notes.ljust(widths[1]), row.cnnlab)
                lines.append(f"  {row.status:<8}  " + "  ".join(cells).rstrip())
                if row.why:
                    lines.append(f"  {'':8}    {row.why}")
        return "\n".join([*lines[1:], "", self.summary()])

    def markdown(self) -> str:
        """The table as Markdown (notes.md, docs/notes.md)."""
        lines = []
        for section, rows in self._sections():
            lines += [
                f"### {section}",
                "",
                "| topic | notes | cnnlab | | why |",
                "| --- | --- | --- | --- | --- |",
            ]
            for row in rows:
                cells = [_markdown_cell(c) for c in (row.topic, row.notes, row.cnnlab, row.why)]
                cells.insert(3, f"**{row.status}**")
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
        return "\n".join([*lines, self.summary(), ""])

    def _sections(self) -> Iterator[tuple[str, list[Row]]]:
        sections: dict[str, list[Row]] = {}
        for row in self.rows:
            sections.setdefault(row.section, []).append(row)
        yield from sections.items()


def _markdown_cell(text: str) -> str:
    """A table cell: the notes' '|' and '*' (Ng's 10|0 image, convolution) as literal text."""
    return text.replace("|", "\\|").replace("*", "\\*")


def _show(value) -> str:
    """cnnlab's value as a reader compares it with the notes': ints with thousands commas,
    arrays as nested lists."""
    if isinstance(value, np.ndarray):
        whole = np.array_equal(value, np.round(value))
        return str(value.astype(int).tolist() if whole else value.round(4).tolist())
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int | float | np.integer):
        power = math.log10(value) if value >= 1e6 else 0.5
        return f"10^{power:.0f}" if power.is_integer() else f"{int(value):,}"
    return str(value)


def _agree(notes, computed) -> bool:
    if isinstance(notes, Printed):
        return notes.agrees(float(computed))
    if isinstance(notes, np.ndarray | list | tuple):
        a, b = np.asarray(notes), np.asarray(computed)
        return a.shape == b.shape and np.array_equal(a, b)
    return notes == computed


class Rows:
    """Collects rows section by section."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.section = ""

    def match(self, topic: str, notes, computed, *, shown: str | None = None, why: str = ""):
        """The notes print `notes` (a `Printed` number, an exact value or array); cnnlab
        computed `computed`."""
        status = MATCH if _agree(notes, computed) else MISMATCH
        self._add(topic, notes, computed, status, why, shown)

    def erratum(
        self, topic: str, notes, computed, corrected, why: str, *, shown: str | None = None
    ):
        """The notes print `notes`, which is wrong: `why` explains, and `corrected` is the
        right value, derived in the row. cnnlab must compute it, and it must differ from the
        notes' value."""
        right = _agree(corrected, computed) and not _agree(notes, computed)
        self._add(topic, notes, computed, ERRATUM if right else MISMATCH, why, shown)

    def _add(self, topic, notes, computed, status, why, shown):
        text = notes.text if isinstance(notes, Printed) else _show(notes)
        cnnlab = shown if shown is not None else _show(computed)
        self.rows.append(Row(self.section, topic, text, cnnlab, status, why))


def _params(input_shape: tuple[int, ...], *layers: keras.layers.Layer) -> int:
    return keras.Sequential([keras.Input(input_shape), *layers]).count_params()


def _output_size(n: int, f: int, p: int, s: int) -> int | str:
    try:
        return reference.output_size(n, f, p, s)
    except GeometryError:
        return "does not fit"


def _arithmetic(rows: Rows) -> None:
    rows.section = "Convolution arithmetic: (N + 2P - F)/S + 1"
    rows.match("7x7 input, 3x3 filter, stride 1, pad 0", 5, _output_size(7, 3, 0, 1))
    rows.match("7x7 input, 3x3 filter, stride 2", 3, _output_size(7, 3, 0, 2))
    rows.match(
        "7x7 input, 3x3 filter, stride 3",
        "does not fit",
        _output_size(7, 3, 0, 3),
        why="(7 - 3)/3 + 1 = 2.33 is not whole: cnnlab raises GeometryError",
    )
    rows.match(
        "32x32 input, 5x5 filter, pad 2 = (F - 1)/2, stride 1", 32, _output_size(32, 5, 2, 1)
    )
    rows.match("AlexNet conv1: (227 - 11)/4 + 1", 55, _output_size(227, 11, 0, 4))
    rows.erratum(
        "the summary's (n - p)/s + 1, on 7x7, 3x3, stride 1",
        (7 - 0) // 1 + 1,
        _output_size(7, 3, 0, 1),
        corrected=(7 + 2 * 0 - 3) // 1 + 1,
        why="a typo for (n + 2p - f)/s + 1: p stands where the filter size f belongs, and the padding is gone",
    )


def _examples(rows: Rows) -> None:
    rows.section = "Convolution and pooling by hand"
    grid = np.arange(1.0, 26.0).reshape(5, 5)
    x_kernel = np.array([[1.0, 0, 1], [0, 1, 0], [1, 0, 1]])
    rows.match(
        "5x5 of 1..25 * [[1,0,1],[0,1,0],[1,0,1]], stride 1: first output",
        35,
        reference.correlate(grid, x_kernel)[0, 0],
    )
    stride_2 = reference.correlate(grid, x_kernel, stride=2)
    rows.match(
        "the same at stride 2: second output",
        45,
        stride_2[0, 1],
        why=f"all four: {_show(stride_2)}",
    )
    average = reference.pool_forward(grid[None, :, :, None], 2, mode="avg")[0, :, :, 0]
    rows.match("2x2 average pooling of the 5x5, stride 2", np.array([[4.0, 6], [14, 16]]), average)

    ng_image = np.array(
        [
            [3.0, 0, 1, 2, 7, 4],
            [1, 5, 8, 9, 3, 1],
            [2, 7, 2, 5, 1, 3],
            [0, 1, 3, 1, 7, 8],
            [4, 2, 1, 6, 2, 8],
            [2, 4, 5, 2, 3, 9],
        ]
    )
    vertical = np.array([[1.0, 0, -1], [1, 0, -1], [1, 0, -1]])
    ng_output = reference.correlate(ng_image, vertical)
    rows.match("Ng's 6x6 * vertical edge [[1,0,-1]]x3: first window", -5, ng_output[0, 0])
    rows.match(
        "Ng's 6x6 * vertical edge: the 4x4 output",
        np.array([[-5.0, -4, 0, 8], [-10, -2, 2, 3], [0, -2, -4, -7], [-3, -2, -3, -16]]),
        ng_output,
    )
    step = np.repeat([[10.0, 10, 10, 0, 0, 0]], 6, axis=0)
    rows.match(
        "Ng's 10|0 image * vertical edge: each output row",
        np.array([0.0, 30, 30, 0]),
        reference.correlate(step, vertical)[0],
    )

    keras_conv = keras.layers.Conv2D(1, 3, use_bias=False)
    keras_conv.build((None, 6, 6, 1))
    keras_conv.kernel.assign(vertical[:, :, None, None])
    through_keras = keras.ops.convert_to_numpy(keras_conv(step[None, :, :, None]))[0, 0, :, 0]
    rows.match(
        "Keras's Conv2D on the 10|0 image: a cross-correlation",
        np.array([0.0, 30, 30, 0]),
        through_keras,
        why="the kernel is not flipped; reference.convolve (flipped) gives "
        f"{_show(reference.convolve(step, vertical)[0])}",
    )

    window = np.array([[1.0, 3], [2, 0]])[None, :, :, None]
    upstream = np.ones((1, 1, 1, 1))
    to_max = reference.pool_backward(upstream, window, 2, mode="max")[0, :, :, 0]
    spread = reference.pool_backward(upstream, window, 2, mode="avg")[0, :, :, 0]
    rows.match(
        "max pool backward on [[1,3],[2,0]]: all to the argmax",
        np.array([[0.0, 1], [0, 0]]),
        to_max,
    )
    rows.match("average pool backward: spread evenly", np.full((2, 2), 0.25), spread)


def _parameters(rows: Rows, alexnet: keras.Model) -> None:
    rows.section = "Parameters and im2col"
    rows.match("ten 3x3x3 filters with biases", 280, _params((32, 32, 3), Im2ColConv2D(10, 3)))
    rows.match(
        "3 -> 192 channels, 3x3, no bias",
        5_184,
        _params((32, 32, 3), Im2ColConv2D(192, 3, use_bias=False)),
    )
    conv1 = alexnet.get_layer("conv1").count_params()
    rows.erratum(
        "AlexNet conv1: 96 filters of 11x11x3",
        Printed.of("34,848"),
        conv1,
        corrected=11 * 11 * 3 * 96 + 96,
        why="34,848 (the notes' ~35K) counts the weights and omits the 96 biases",
    )
    rows.match(
        "S1: a (20, 3, 5, 5) weight with 20 biases",
        1_520,
        _params((32, 32, 3), Im2ColConv2D(20, 5)),
    )
    window = reference.Window.of(5)
    rows.match(
        "im2col of one 7x7x3 image, 5x5 filter",
        (9, 75),
        reference.im2col(np.zeros((1, 7, 7, 3)), window).shape,
    )
    rows.match(
        "im2col of 10 such images",
        (90, 75),
        reference.im2col(np.zeros((10, 7, 7, 3)), window).shape,
    )

    rows.section = "Local vs shared connections (1000x1000 image, 10x10 windows)"
    with shapes_only():  # 10^8 weights are 400 MB: count them without drawing them
        image = keras.Input((1000, 1000, 1))
        local = LocallyConnected2D(1, 10, padding="same", use_bias=False)
        shared = Im2ColConv2D(1, 10, padding="same", use_bias=False)
        profiles = {
            layer: profile(keras.Model(image, layer(image))).rows[-1] for layer in (local, shared)
        }
    rows.match("hidden units", 10**6, math.prod(profiles[local].output_shape))
    rows.match("weights, locally connected (LocallyConnected2D)", 10**8, profiles[local].params)
    rows.match("weights, shared (a 10x10 convolution)", 10**2, profiles[shared].params)


def _stacks(rows: Rows) -> None:
    rows.section = "Stacks of small filters (C channels in and out, no biases)"
    c = 64

    def weights(*sizes: tuple[int, int]) -> int:
        convs = [Im2ColConv2D(c, size, padding="same", use_bias=False) for size in sizes]
        return _params((16, 16, c), *convs)

    def saving(stack: list[tuple[int, int]], single: tuple[int, int]) -> float:
        return 100 * (1 - weights(*stack) / weights(single))

    rows.match(
        "two 3x3 instead of one 5x5: fewer weights",
        Printed.of("28%"),
        saving([(3, 3)] * 2, (5, 5)),
        why="2 x 9C^2 = 18C^2 vs 25C^2",
    )
    rows.match(
        "three 3x3 instead of one 7x7",
        Printed.of("45%"),
        saving([(3, 3)] * 3, (7, 7)),
        why="27C^2 vs 49C^2",
    )
    rows.match(
        "VGG (Sec. 2.3): one 7x7 needs more weights than three 3x3",
        Printed.of("81%"),
        100 * (weights((7, 7)) / weights(*[(3, 3)] * 3) - 1),
        why="49C^2 / 27C^2 = 1.81",
    )
    rows.match(
        "Inception v3: 1x3 then 3x1 instead of 3x3",
        Printed.of("33%"),
        saving([(1, 3), (3, 1)], (3, 3)),
        why="6C^2 vs 9C^2",
    )
    for depth, side in ((2, 5), (3, 7)):
        convs = [Im2ColConv2D(1, 3, padding="same", name=f"conv{i}") for i in range(depth)]
        field = profile(keras.Sequential([keras.Input((32, 32, 1)), *convs])).rows[-1]
        rows.match(
            f"{depth} stacked 3x3 convolutions: receptive field",
            f"{side}x{side}",
            "x".join(map(str, field.receptive_field.size)),
        )


# Simonyan & Zisserman (2015), Table 2: parameters (millions) of configurations A-E.
VGG_TABLE_2 = {
    "A (vgg11)": ("vgg11", "133M"),
    "A-LRN (vgg11_lrn)": ("vgg11_lrn", "133M"),
    "B (vgg13)": ("vgg13", "133M"),
    "C (vgg16_c)": ("vgg16_c", "134M"),
    "D (vgg16)": ("vgg16", "138M"),
    "E (vgg19)": ("vgg19", "144M"),
}
# The notes' VGG-16 walk-through: (label, layer, memory, weights) as printed; weights without biases.
VGG16_WALKTHROUGH = (
    ("INPUT [224x224x3]", "image", "150K", "0"),
    ("CONV3-64 [224x224x64]", "block1_conv1", "3.2M", "1,728"),
    ("CONV3-64 [224x224x64]", "block1_conv2", "3.2M", "36,864"),
    ("POOL2 [112x112x64]", "block1_pool", "800K", "0"),
    ("CONV3-128 [112x112x128]", "block2_conv1", "1.6M", "73,728"),
    ("CONV3-128 [112x112x128]", "block2_conv2", "1.6M", "147,456"),
    ("POOL2 [56x56x128]", "block2_pool", "400K", "0"),
    ("CONV3-256 [56x56x256]", "block3_conv1", "800K", "294,912"),
    ("CONV3-256 [56x56x256]", "block3_conv2", "800K", "589,824"),
    ("CONV3-256 [56x56x256]", "block3_conv3", "800K", "589,824"),
    ("POOL2 [28x28x256]", "block3_pool", "200K", "0"),
    ("CONV3-512 [28x28x512]", "block4_conv1", "400K", "1,179,648"),
    ("CONV3-512 [28x28x512]", "block4_conv2", "400K", "2,359,296"),
    ("CONV3-512 [28x28x512]", "block4_conv3", "400K", "2,359,296"),
    ("POOL2 [14x14x512]", "block4_pool", "100K", "0"),
    ("CONV3-512 [14x14x512]", "block5_conv1", "100K", "2,359,296"),
    ("CONV3-512 [14x14x512]", "block5_conv2", "100K", "2,359,296"),
    ("CONV3-512 [14x14x512]", "block5_conv3", "100K", "2,359,296"),
    ("POOL2 [7x7x512]", "block5_pool", "25K", "0"),
    ("FC [1x1x4096]", "fc1", "4096", "102,760,448"),
    ("FC [1x1x4096]", "fc2", "4096", "16,777,216"),
    ("FC [1x1x1000]", "predictions_logits", "1000", "4,096,000"),
)
# Szegedy et al. (2015), Table 1: the "params" (K) and "ops" (M) columns per stage.
GOOGLENET_TABLE_1 = {
    "conv1": ("2.7K", "34M"),
    "conv2": ("112K", "360M"),
    "3a": ("159K", "128M"),
    "3b": ("380K", "304M"),
    "4a": ("364K", "73M"),
    "4b": ("437K", "88M"),
    "4c": ("463K", "100M"),
    "4d": ("580K", "119M"),
    "4e": ("840K", "170M"),
    "5a": ("1072K", "54M"),
    "5b": ("1388K", "71M"),
}
# He et al. (2016), Table 1: FLOPs (multiply-adds) at 224x224.
RESNET_TABLE_1 = {"resnet18": "1.8G", "resnet34": "3.6G", "resnet50": "3.8G"}


def _vgg(rows: Rows, build: Callable[[str, int], keras.Model], vgg16: ModelProfile) -> None:
    rows.section = "VGG (Simonyan & Zisserman, 2015)"
    for label, (name, printed) in VGG_TABLE_2.items():
        rows.match(
            f"Table 2, parameters of {label}", Printed.of(printed), build(name, 224).count_params()
        )

    rows.section = (
        "The notes' VGG-16 memory walk-through (values per image, weights without biases)"
    )
    model = build("vgg16", 224)
    for label, layer, memory, weights in VGG16_WALKTHROUGH:
        kernel = getattr(model.get_layer(layer), "kernel", None)
        rows.match(f"{label}: memory", Printed.of(memory), vgg16.row(layer).activations)
        if kernel is not None:
            rows.match(f"{label}: weights", Printed.of(weights), math.prod(kernel.shape))
    rows.match("the rows' memory, summed", Printed.of("15.2M"), vgg16.activations)
    rows.match(
        "in float32 bytes, forward only",
        Printed.of("61 MB"),
        vgg16.activation_bytes / 1e6,
        shown=f"{vgg16.activation_bytes / 1e6:.1f} MB",
    )
    rows.erratum(
        "TOTAL memory",
        Printed.of("24M"),
        vgg16.activations,
        corrected=Printed.of("15.2M"),
        why="the slide's total does not add up its own rows, which give 15.2M values (61 MB)",
    )
    rows.match("TOTAL params", Printed.of("138M"), vgg16.params)


def _googlenet(rows: Rows, googlenet: ModelProfile) -> None:
    rows.section = "GoogLeNet (Szegedy et al., 2015), Table 1"

    def stage(key: str) -> tuple[int, int]:
        prefix = f"inception_{key}_" if key[0].isdigit() else key
        chosen = [r for r in googlenet.rows if r.name.startswith(prefix)]
        if key == "conv1":
            chosen = [googlenet.row("conv1")]
        return sum(r.params for r in chosen), sum(r.macs for r in chosen)

    ops_slack = 1e6  # the ops column is cut or rounded to whole millions
    for key, (params, ops) in GOOGLENET_TABLE_1.items():
        built_params, built_ops = stage(key)
        if key == "conv1":
            rows.erratum(
                "conv1 7x7/2, 64 filters: ops",
                Printed.of(ops),
                built_ops,
                corrected=112 * 112 * 7 * 7 * 3 * 64,
                why="34M is the printed 2.7K params x 112x112; 7x7x3x64 weights at 112x112 are 118M",
            )
        elif key == "5a":
            rows.erratum(
                "5a: ops",
                Printed.of(ops),
                built_ops,
                corrected=Printed.of("51.1M"),
                why="5a's own filter columns (256, 160, 320, 32, 128, 128 on 14x14x832) give 51.1M",
            )
        else:
            rows.match(f"{key}: ops", Printed.of(ops, tolerance=ops_slack), built_ops)
        rows.erratum(
            f"{key}: params",
            Printed.of(params),
            built_params,
            corrected=TABLE_1_FILTER_PARAMS[key],
            why="the params column does not follow from Table 1's own filter columns "
            "(weights and biases), which the ops column does follow",
        )


def _filter_column_params() -> dict[str, int]:
    """Weights and biases of each GoogLeNet stage as Table 1's filter columns give them."""
    params = {"conv1": 7 * 7 * 3 * 64 + 64, "conv2": (64 * 64 + 64) + (9 * 64 * 192 + 192)}
    channels = 192
    for entry in INCEPTION_TABLE:
        if entry == "maxpool":
            continue
        key, f = entry
        convs = (  # (inputs per filter, filters) of each convolution
            (channels, f.n1x1),
            (channels, f.n3x3_reduce),
            (9 * f.n3x3_reduce, f.n3x3),
            (channels, f.n5x5_reduce),
            (25 * f.n5x5_reduce, f.n5x5),
            (channels, f.pool_proj),
        )
        params[key] = sum(fan_in * n + n for fan_in, n in convs)
        channels = f.n1x1 + f.n3x3 + f.n5x5 + f.pool_proj
    return params


TABLE_1_FILTER_PARAMS = _filter_column_params()


def _inception_module(rows: Rows) -> None:
    rows.section = "The notes' inception module on 28x28x256"
    naive = profile(single_module((28, 28, 256), NaiveFilters(128, 192, 96)))
    bottleneck = profile(single_module((28, 28, 256), InceptionFilters(128, 64, 192, 64, 96, 64)))
    rows.match(
        "naive module (1x1 128, 3x3 192, 5x5 96, pool): output",
        (28, 28, 672),
        naive.row("inception_module").output_shape,
    )
    rows.match("naive module: multiply-adds", Printed.of("854M"), naive.macs)
    rows.match(
        "with 1x1 bottlenecks of 64: output",
        (28, 28, 480),
        bottleneck.row("inception_module").output_shape,
    )
    positions = 28 * 28
    rows.erratum(
        "with 1x1 bottlenecks: multiply-adds",
        Printed.of("358M"),
        bottleneck.macs,
        corrected=positions * (3 * 256 * 64 + 256 * 128 + 9 * 64 * 192 + 25 * 64 * 96),
        why="the slide's own six rows add up to 271M; 358M counts its 3x3 row (86.7M) twice",
    )


def _resnet_and_maps(rows: Rows, build: Callable[[str, int], keras.Model], profiles) -> None:
    rows.section = "ResNet (He et al., 2016), Table 1: FLOPs (multiply-adds) at 224x224"
    for name, printed in RESNET_TABLE_1.items():
        flops = Printed.of(printed)
        rows.match(
            f"{name}",
            Printed.of(printed, tolerance=0.03 * flops.value),
            profiles(name, 224).macs,
            shown=f"{profiles(name, 224).macs / 1e9:.2f}G",
            why="the paper cuts its figures; within 3%",
        )

    rows.section = "Feature-map sides"

    def sides(name: str, side: int, layers: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(build(name, side).get_layer(layer).output.shape[1] for layer in layers)

    rows.match(
        "AlexNet at 227: conv1, pool1, pool2, pool5",
        (55, 27, 13, 6),
        sides("alexnet", 227, ("conv1", "pool1", "pool2", "pool5")),
    )
    rows.match(
        "ZFNet at 224 (Fig. 3): conv1, pool1, conv2, pool2, pool5",
        (110, 55, 26, 13, 6),
        sides("zfnet", 224, ("conv1", "pool1", "conv2", "pool2", "pool5")),
    )
    lee = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            Im2ColConv2D(25, 3, name="conv1"),
            keras.layers.MaxPooling2D(2, name="pool1"),
            Im2ColConv2D(50, 3, name="conv2"),
        ]
    )
    lee_sides = tuple(lee.get_layer(n).output.shape[1] for n in ("conv1", "pool1", "conv2"))
    rows.match("Hung-yi Lee: 28 -> conv 25@3x3 -> pool 2 -> conv 50@3x3", (26, 13, 11), lee_sides)
    rows.match(
        "  the second conv's output", (11, 11, 50), tuple(lee.get_layer("conv2").output.shape[1:])
    )
    rows.match(
        "  weights per filter of the second conv (25x3x3)",
        225,
        math.prod(lee.get_layer("conv2").kernel.shape[:3]),
    )


def recompute() -> NotesTable:
    """Every worked number of the notes, recomputed (builds VGG, ResNet and GoogLeNet at
    224x224: seconds on a CPU)."""

    @functools.cache
    def build(name: str, side: int) -> keras.Model:
        with shapes_only():
            return models.build(name, (side, side, 3), 1000, init="keras")

    @functools.cache
    def profiles(name: str, side: int) -> ModelProfile:
        return profile(models.inference_model(build(name, side)))

    rows = Rows()
    _arithmetic(rows)
    _examples(rows)
    _parameters(rows, build("alexnet", 227))
    _stacks(rows)
    _vgg(rows, build, profiles("vgg16", 224))
    _googlenet(rows, profiles("googlenet", 224))
    _inception_module(rows)
    _resnet_and_maps(rows, build, profiles)
    return NotesTable(tuple(rows.rows))
