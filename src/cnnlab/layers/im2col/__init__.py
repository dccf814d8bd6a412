"""cnnlab's im2col convolution and pooling: geometry, unfold/fold, chunks and bands, ops, layers."""

from cnnlab.layers.im2col.conv import Im2ColConv2D, Im2ColDepthwiseConv2D
from cnnlab.layers.im2col.pool import Im2ColPool2D

__all__ = ["Im2ColConv2D", "Im2ColDepthwiseConv2D", "Im2ColPool2D"]
