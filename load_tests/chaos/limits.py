"""Queue limits from measured capacity: the rule `coe chaos` judges overload by, inverted.

An admitted request waits behind at most `depth` = max_ongoing + max_queued others,
served at the measured capacity C, plus its own service time S (the p99 at capacity);
`coe chaos` requires SLACK x (depth / C + S) to stay under the bound. Given a target
admitted p99 T, the deepest queue that keeps it is depth = (T / SLACK - S) x C. The
ongoing limit is what keeps the pipeline full at capacity (Little's law, C x S, at least
1); the rest of the depth may queue. The in-flight image budget follows from the depth and
the images per request. Pure arithmetic over figures measured elsewhere.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from load_tests.chaos.overload import SLACK, admitted_p99_bound_ms


class MeasuredCapacity(BaseModel):
    capacity_rps: float = Field(gt=0, description="admitted requests/s at capacity")
    service_p99_ms: float = Field(gt=0, description="p99 latency at capacity")
    images_per_request: float = Field(default=1.0, ge=1.0)


class QueueLimits(BaseModel):
    max_ongoing_requests: int
    max_queued_requests: int
    max_inflight_images: int
    target_p99_ms: float
    predicted_admitted_p99_bound_ms: float = Field(
        description="coe chaos's bound for these limits at the measured capacity")


def queue_limits(measured: MeasuredCapacity, target_p99_ms: float) -> QueueLimits:
    """The largest ingress queue whose overload p99 bound stays within `target_p99_ms`."""
    rate_per_ms = measured.capacity_rps / 1000.0
    headroom_ms = target_p99_ms / SLACK - measured.service_p99_ms
    if headroom_ms <= 0:
        raise ValueError(
            f"target_p99_ms={target_p99_ms:g} is below {SLACK:g} x the service p99 "
            f"({measured.service_p99_ms:g} ms): no queue can meet it")
    depth = max(1, math.floor(headroom_ms * rate_per_ms))
    ongoing = max(1, min(depth, math.ceil(rate_per_ms * measured.service_p99_ms)))
    queued = depth - ongoing
    images = max(1, math.ceil(depth * measured.images_per_request))
    return QueueLimits(
        max_ongoing_requests=ongoing, max_queued_requests=queued, max_inflight_images=images,
        target_p99_ms=target_p99_ms,
        predicted_admitted_p99_bound_ms=round(admitted_p99_bound_ms(
            depth, measured.capacity_rps, measured.service_p99_ms), 1),
    )


def measured_from_chaos_report(report: dict) -> MeasuredCapacity:
    """Capacity and its p99 as a `coe chaos` report measured them."""
    return MeasuredCapacity(
        capacity_rps=report["load_held"]["capacity_rps"],
        service_p99_ms=report["capacity"]["latency_ok_ms"]["p99_ms"],
    )
