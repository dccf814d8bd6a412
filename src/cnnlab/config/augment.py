"""Schema of the `augment` group: a list of ops (checked by the op registry) and test-time views."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cnnlab.checks import Checked


class TestTime(StrEnum):
    none = "none"
    flip = "flip"  # average over the image and its mirror
    ten_crop = "ten_crop"  # AlexNet's 10 crops; needs data.load_size > data.image_size


@dataclass
class AugmentConfig(Checked):
    GROUP = "augment"

    name: str = "none"
    ops: list[dict[str, Any]] = field(default_factory=list)  # [{name: op, param: value, ...}]
    test_time: TestTime = TestTime.none
