"""The last N rows of floats in fixed memory: live percentiles on a server that never grows.

Shared by the latency ring behind `GET /v1/stats` (one value per row) and the call anatomy
(one row of parts per call). Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class RingBuffer:
    """The last `capacity` rows of `width` floats (a row may be given as a scalar if width 1)."""

    def __init__(self, capacity: int, width: int = 1) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._values = np.zeros((capacity, width), dtype=np.float64)
        self._next = 0
        self._count = 0

    def add(self, row: float | Sequence[float]) -> None:
        self._values[self._next] = row
        self._next = (self._next + 1) % self._values.shape[0]
        self._count = min(self._count + 1, self._values.shape[0])

    def __len__(self) -> int:
        return self._count

    def rows(self) -> np.ndarray:
        """The kept rows, (count, width), oldest first only until the ring wraps."""
        return self._values[: self._count]
