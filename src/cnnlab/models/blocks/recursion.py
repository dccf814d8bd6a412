"""Python's recursion limit for deep Keras graphs.

Keras builds a functional model (and loads one) by walking its graph recursively, one frame
per layer along the longest path, so ResNet-1202's ~4,200 layers exceed Python's default
limit of 1,000. The builders raise the limit for the duration of the build only.
"""

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def recursion_limit(limit: int) -> Iterator[None]:
    """Raise Python's recursion limit to at least `limit` for a block, then restore it."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def graph_limit(layers: int) -> int:
    """A limit that fits a graph of `layers` layers: one frame per layer, plus headroom."""
    return 2 * layers + 1_000
