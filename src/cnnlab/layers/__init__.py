"""cnnlab's own layers: im2col convolution and pooling, a locally connected layer, LRN, RReLU,
Maxout, fused batch norm."""

from cnnlab.layers.activations import Maxout, RReLU  # noqa: F401
from cnnlab.layers.batch_norm import FusedBatchNormalization  # noqa: F401
from cnnlab.layers.im2col import Im2ColConv2D, Im2ColDepthwiseConv2D, Im2ColPool2D  # noqa: F401
from cnnlab.layers.locally_connected import LocallyConnected2D  # noqa: F401
from cnnlab.layers.normalization import LRN  # noqa: F401
