"""cnnlab: a lab to learn, build, train and compare convolutional networks with Keras."""

from cnnlab import native_logs

native_logs.quiet_by_default()  # before any cnnlab module imports TensorFlow

__version__ = "0.1.0"
