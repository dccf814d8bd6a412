"""What the im2col layers share: window arguments, geometry, chunking and the backward choice."""

import keras

from cnnlab.checks import require_choice
from cnnlab.errors import GeometryError
from cnnlab.layers.im2col.chunks import Bands, images_per_chunk
from cnnlab.layers.im2col.geometry import normalize_padding, resolve, size_pair
from cnnlab.layers.im2col.ops import BACKWARDS, OpSpec

# The memory bound: an image whose unfolded matrix is bigger is cut into bands of rows.
DEFAULT_MAX_UNFOLD_BYTES = 64 * 2**20
# Within the bound, work goes in pieces of about this size, which keeps the matrix in the CPU's
# cache between the unfold that writes it and the matrix product that reads it.
CACHE_CHUNK_BYTES = 2 * 2**20

# Bytes per unfolded entry: 16-bit policies are unfolded in float32 (`ops._float32_inside`).
ITEMSIZE = {"float16": 4, "bfloat16": 4, "float32": 4, "float64": 8}


class Im2ColLayer(keras.layers.Layer):
    """Base of the im2col layers: a 2-D window slid over an NHWC input.

    exact_fit: raise GeometryError when (N + 2P - F) is not divisible by S (else floor like Keras).
    backward: 'col2im' (the explicit gradient) or 'autodiff' (differentiate the unfold).
    max_unfold_bytes: the most bytes of unfolded matrix held at once. The batch goes in chunks
        of a power of two of whole images, of about min(max_unfold_bytes, CACHE_CHUNK_BYTES)
        (up to 1.42x that, within max_unfold_bytes); an image whose
        matrix alone is over the bound is cut into bands of output rows. None: no bound, the
        whole batch at once.
    jit_compile: 'auto' compiles the op with XLA on the TensorFlow backend; True or False.
    """

    def __init__(
        self,
        size,
        strides,
        padding,
        dilation_rate=(1, 1),
        data_format=None,
        exact_fit: bool = True,
        backward: str = "col2im",
        max_unfold_bytes: int | None = DEFAULT_MAX_UNFOLD_BYTES,
        jit_compile: bool | str = "auto",
        size_key: str = "kernel_size",
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = self.owner
        self.size_key = size_key
        self.window_size = size_pair(owner, size_key, size)
        self.strides = size_pair(owner, "strides", strides)
        self.padding = normalize_padding(owner, padding)
        self.dilation_rate = size_pair(owner, "dilation_rate", dilation_rate)
        if data_format not in (None, "channels_last"):
            raise GeometryError(
                f"{owner}: data_format={data_format!r} is not supported: the im2col layers are "
                f"NHWC ('channels_last')"
            )
        require_choice(f"{owner} backward", backward, BACKWARDS)
        if max_unfold_bytes is not None and (
            not isinstance(max_unfold_bytes, int) or max_unfold_bytes < 1
        ):
            raise GeometryError(
                f"{owner}: max_unfold_bytes={max_unfold_bytes!r} is invalid: expected an "
                f"integer >= 1 or None"
            )
        require_choice(f"{owner} jit_compile", jit_compile, ("auto", True, False))
        self.exact_fit = bool(exact_fit)
        self.backward = backward
        self.max_unfold_bytes = max_unfold_bytes
        self.jit_compile = jit_compile

    @property
    def owner(self) -> str:
        """How error messages name this layer."""
        return f"{type(self).__name__} {self.name!r}"

    def geometry(self, input_shape):
        return resolve(
            self.owner,
            tuple(input_shape[1:3]),
            self.window_size,
            self.strides,
            self.dilation_rate,
            self.padding,
            self.exact_fit,
        )

    def op_spec(self, input_shape, groups: int = 1, mode: str = "conv") -> OpSpec:
        """The static description of this layer's op on `input_shape` (the compile-cache key)."""
        geometry = self.geometry(input_shape)
        rows = self.band_rows(input_shape)
        bands = Bands.of(geometry, rows) if rows < geometry.output[0] else None
        chunk = images_per_chunk(
            rows * self.row_unfold_bytes(input_shape), self.chunk_bytes, self.max_unfold_bytes
        )
        if self.jit_compile == "auto":
            jit = keras.backend.backend() == "tensorflow"
        else:
            jit = self.jit_compile
        return OpSpec(geometry, groups, mode, chunk, jit, bands)

    @property
    def chunk_bytes(self) -> int | None:
        """The size of the pieces of unfolded matrix computed at once."""
        if self.max_unfold_bytes is None:
            return None
        return min(self.max_unfold_bytes, CACHE_CHUNK_BYTES)

    def row_unfold_bytes(self, input_shape) -> int:
        """Bytes of the unfolded matrix of one output row of one image: OW rows of kh*kw*C."""
        geometry = self.geometry(input_shape)
        channels = int(input_shape[-1])
        return geometry.output[1] * geometry.entries * channels * ITEMSIZE[self.compute_dtype]

    def band_rows(self, input_shape) -> int:
        """Output rows unfolded at once per image: all, unless the image is over the bound."""
        out_rows = self.geometry(input_shape).output[0]
        row_bytes = self.row_unfold_bytes(input_shape)
        if self.max_unfold_bytes is None or out_rows * row_bytes <= self.max_unfold_bytes:
            return out_rows
        return max(1, self.chunk_bytes // row_bytes)

    def unfold_bytes(self, input_shape) -> int:
        """Bytes of the largest unfolded matrix (one chunk) for an input of `input_shape`."""
        spec = self.op_spec(input_shape)
        units = (input_shape[0] or 1) * (spec.bands.count if spec.bands else 1)
        rows = self.band_rows(input_shape)
        return min(units, spec.chunk or units) * rows * self.row_unfold_bytes(input_shape)

    def compute_output_shape(self, input_shape):
        oh, ow = self.geometry(input_shape).output
        return (input_shape[0], oh, ow, self.output_channels(input_shape[-1]))

    def output_channels(self, input_channels: int) -> int:
        return input_channels

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            self.size_key: self.window_size,
            "strides": self.strides,
            "padding": self.padding,
            "exact_fit": self.exact_fit,
            "backward": self.backward,
            "max_unfold_bytes": self.max_unfold_bytes,
            "jit_compile": self.jit_compile,
        }
