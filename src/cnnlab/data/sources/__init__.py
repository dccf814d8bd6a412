"""Data sources by name: TFDS, the embedded digits, image folders, synthetic images."""

# Importing the source modules registers them.
from cnnlab.data.sources import folder, synthetic, tfds  # noqa: F401
from cnnlab.data.sources.registry import Source, available_sources, load_source, register_source

__all__ = ["Source", "available_sources", "load_source", "register_source"]
