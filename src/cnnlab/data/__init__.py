"""Data: sources (TFDS by name, embedded digits, image folders, synthetic), augmentation, tf.data."""

# Importing the source and op modules registers them.
from cnnlab.data import ops  # noqa: F401
from cnnlab.data.images import match_channels, to_pixels
from cnnlab.data.pipeline import (
    AugmentationSample,
    DataInfo,
    Datasets,
    build_datasets,
    describe,
)
from cnnlab.data.sources import Source, available_sources, load_source, register_source

__all__ = [
    "AugmentationSample",
    "DataInfo",
    "Datasets",
    "Source",
    "available_sources",
    "build_datasets",
    "describe",
    "load_source",
    "match_channels",
    "register_source",
    "to_pixels",
]
