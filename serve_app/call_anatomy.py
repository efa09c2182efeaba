"""Where a request's time goes: the parts of each member call and of each request.

A member call is split by timestamps taken where each part starts and ends (wall clock):
- `to_replica`: the caller sent it -> the member's handler began (Serve's routing, the
  replica's queue, the transfer of the image);
- `queue`: handler began -> the forward thread began (batch wait, earlier batches);
- `forward`: the forward thread's wall time (resize + forward pass, preempted time included);
- `back`: the forward ended -> the caller had the result (the batch's other work, the
  return hop, the caller's event loop).
A request at the ingress is split into reading + decoding its images, the cascade, and the
answer. The summary compares the median calls with the tail ones (total >= its p99), so a
slow tail can be traced to the part that grows. Pure numpy: unit-tested without Ray.

The stamps of one call come from two processes. On one machine they share a clock; across
nodes `to_replica` and `back` also carry the clocks' skew (their sum does not).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from serve_app.ring_buffer import RingBuffer

MEMBER_CALL_PARTS = ("to_replica", "queue", "forward", "back")
REQUEST_PARTS = ("read_decode", "cascade", "answer")


def member_call_parts_ms(result) -> tuple[float, ...] | None:
    """The four parts (ms) of one answered member call, or None without a full set of stamps
    (a collage stand-in, or a result built by hand)."""
    stamps = (getattr(result, "sent_at", 0.0), getattr(result, "arrived_at", 0.0),
              getattr(result, "forward_started_at", 0.0),
              getattr(result, "forward_ended_at", 0.0), getattr(result, "received_at", 0.0))
    if min(stamps) <= 0.0:
        return None
    pairs = zip(stamps[:-1], stamps[1:], strict=True)
    return tuple((later - earlier) * 1000.0 for earlier, later in pairs)


class AnatomyRing(RingBuffer):
    """The last `capacity` samples of named parts (ms), for median-vs-tail summaries."""

    def __init__(self, parts: Sequence[str], capacity: int = 4096) -> None:
        super().__init__(capacity, width=len(parts))
        self.parts = tuple(parts)

    def add(self, parts_ms: Sequence[float]) -> None:
        if len(parts_ms) != len(self.parts):
            raise ValueError(f"expected {len(self.parts)} parts, got {len(parts_ms)}")
        super().add(parts_ms)

    def summary(self) -> dict | None:
        """Count, the total's p50 and p99, and the mean of each part over the median band
        (total within p40-p60) and over the tail (total >= p99). None when empty."""
        if not len(self):
            return None
        values = self.rows()
        total = values.sum(axis=1)
        p40, p50, p60, p99 = np.percentile(total, [40, 50, 60, 99])
        median_band = values[(total >= p40) & (total <= p60)]
        tail = values[total >= p99]
        return {
            "count": len(self),
            "total_p50_ms": float(p50),
            "total_p99_ms": float(p99),
            "median_ms": _means(self.parts, median_band),
            "tail_ms": _means(self.parts, tail),
            "tail_calls": int(tail.shape[0]),
        }


def _means(parts: Sequence[str], rows: np.ndarray) -> dict[str, float]:
    means = rows.mean(axis=0) if rows.shape[0] else np.zeros(len(parts))
    return {part: round(float(v), 3) for part, v in zip(parts, means, strict=True)}
