"""cnnlab: a lab to learn, build, train and compare convolutional networks with Keras."""

import os

# TensorFlow prints CUDA-not-found and oneDNN notices on import; keep the console for results.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
