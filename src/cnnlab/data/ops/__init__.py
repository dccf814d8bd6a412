"""The augmentation ops of the literature; importing a module registers its ops."""

from cnnlab.data.ops import color, erase, mix, spatial  # noqa: F401
