"""Sliding-window geometry of the im2col layers: padding, output size and clear errors.

Output side per axis is the notes' (N + 2P - F) / S + 1 with F = d*(k-1)+1 for dilation d.
'valid' is P = 0; 'same' follows TensorFlow exactly: output ceil(N / S), total padding
max((out-1)*S + F - N, 0), the odd pixel at the bottom/right. An explicit P pads both sides.
"""

from dataclasses import dataclass

from cnnlab.errors import GeometryError

PADDINGS = ("valid", "same")
AXES = ("height", "width")

Padding = str | int | tuple[int, int]


def size_pair(owner: str, key: str, value, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints >= `minimum`, as (height, width)."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= minimum for v in pair):
        raise GeometryError(
            f"{owner}: {key}={value!r} is invalid: expected an integer >= {minimum} "
            f"or a pair of them (height, width)"
        )
    return pair


def normalize_padding(owner: str, padding) -> str | tuple[int, int]:
    """'valid', 'same', P or (P_h, P_w) with P >= 0."""
    if isinstance(padding, str):
        if padding.lower() not in PADDINGS:
            raise GeometryError(
                f"{owner}: padding={padding!r} is invalid: expected 'valid', 'same', "
                f"an integer P >= 0 or a pair (P_h, P_w)"
            )
        return padding.lower()
    return size_pair(owner, "padding", padding, minimum=0)


@dataclass(frozen=True)
class ConvGeometry:
    """One sliding-window op on a known (H, W) input: everything the unfold needs, static."""

    size: tuple[int, int]  # window entries (kh, kw)
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]  # (top, bottom), (left, right)
    input: tuple[int, int]
    output: tuple[int, int]

    @property
    def padded(self) -> tuple[int, int]:
        return tuple(self.input[a] + sum(self.pads[a]) for a in (0, 1))

    @property
    def entries(self) -> int:
        return self.size[0] * self.size[1]


def extent(kernel: int, dilation: int) -> int:
    return dilation * (kernel - 1) + 1


def resolve(
    owner: str,
    input_hw: tuple[int | None, int | None],
    size: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    padding: str | tuple[int, int],
    exact_fit: bool,
) -> ConvGeometry:
    """The geometry of a window op on `input_hw`, or a GeometryError that shows the formula."""
    if any(side is None for side in input_hw):
        raise GeometryError(f"{owner}: needs a known input height and width, got {input_hw}")
    pads, output = [], []
    for a, axis in enumerate(AXES):
        n, k, s, d = input_hw[a], size[a], stride[a], dilation[a]
        f = extent(k, d)
        if padding == "same":
            out = -(-n // s)
            total = max((out - 1) * s + f - n, 0)
            pads.append((total // 2, total - total // 2))
            output.append(out)
            continue
        p = 0 if padding == "valid" else padding[a]
        output.append(_axis_output(owner, axis, n, k, d, f, p, s, exact_fit))
        pads.append((p, p))
    return ConvGeometry(size, stride, dilation, tuple(pads), tuple(input_hw), tuple(output))


def _axis_output(owner, axis, n, k, d, f, p, s, exact_fit) -> int:
    window = f"F = {d}*({k}-1)+1 = {f}" if d > 1 else f"F = {f}"
    if f > n + 2 * p:
        raise GeometryError(
            f"{owner}: the {axis} window {window} is larger than the padded input "
            f"N + 2P = {n} + 2*{p} = {n + 2 * p}; use a smaller kernel, more padding or 'same'"
        )
    left_over = (n + 2 * p - f) % s
    if exact_fit and left_over:
        raise GeometryError(
            f"{owner}: {axis} output (N + 2P - F) / S + 1 = ({n} + 2*{p} - {f}) / {s} + 1 = "
            f"{(n + 2 * p - f) / s + 1:g} is not a whole number ({window}); change the padding "
            f"or stride, or pass exact_fit=False to floor like Keras (drops the last "
            f"{left_over} {'row' if axis == 'height' else 'column'}(s))"
        )
    return (n + 2 * p - f) // s + 1
