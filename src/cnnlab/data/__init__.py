"""Data: sources (TFDS by name, embedded digits, image folders, synthetic), augmentation, tf.data."""

from cnnlab.data.pipeline import DataInfo, Datasets, build_datasets, describe, preprocess
from cnnlab.data.sources import Source, available_sources, load_source, register_source

__all__ = [
    "DataInfo",
    "Datasets",
    "Source",
    "available_sources",
    "build_datasets",
    "describe",
    "load_source",
    "preprocess",
    "register_source",
]
