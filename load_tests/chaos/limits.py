"""Queue limits from measured capacity: the rule `coe chaos` judges overload by, inverted.

An admitted request waits behind at most `depth` others, served at the measured capacity
C, plus its own service time S (the p99 at capacity); `coe chaos` requires
SLACK x (depth / C + S) to stay under the bound. Given a target admitted p99 T, the deepest
queue that keeps it is depth = (T / SLACK - S) x C.

Where the queue lives matters. Serve's router backs off (25 ms doubling to 0.5 s) while
the ingress is full, so requests waiting in Serve's queue leave freed ingress slots idle:
with 13 ongoing + 32 queued the default cascade admitted 9.7 req/s at 3x overload, and
38.1 req/s once its image door held the queue (docs/BENCHMARKS.md, issue 18 item 8).
So the waiting room is the door (max_inflight_images, in images); Serve's queue is only
routing slack (`routing_queue`, default ROUTING_QUEUE), and max_ongoing_requests leaves
DOOR_SLACK slots beyond the door, so the excess reaches the door and gets its fast 503.
How much routing slack is best depends on the app, so it is a measured choice: on the
cascade of 2026-12-06 at 3x overload, 16 queued admitted 45 req/s of a 93 req/s capacity
at an admitted p99 of 4.2 s, 2 queued 98 req/s at 1.2 s, 4 queued 78 req/s at 1.5 s (one
run each: reports/chaos-shipped-g, chaos-q2, chaos-q4). For the single best (resnet56 in
the ingress), 2 queued sent more requests to the door, whose 503s share the ingress's CPU
with resnet56: it admitted 17.5 req/s of 67 at 4.1 s, against 47.7 at 2.4 s with 16
(reports/chaos-single-f, chaos-single-e).
Pure arithmetic over figures measured elsewhere.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from load_tests.chaos.overload import SLACK, admitted_p99_bound_ms

ROUTING_QUEUE = 16  # Serve's queue: slack while a burst is routed, not a waiting room
DOOR_SLACK = 16  # ingress slots beyond the door: the excess reaches the door's fast 503


class MeasuredCapacity(BaseModel):
    capacity_rps: float = Field(gt=0, description="admitted requests/s at capacity")
    service_p99_ms: float = Field(gt=0, description="p99 latency at capacity")
    images_per_request: float = Field(default=1.0, ge=1.0)


class QueueLimits(BaseModel):
    max_ongoing_requests: int
    max_queued_requests: int
    max_inflight_images: int
    target_p99_ms: float
    member_max_ongoing_requests_at_least: int = Field(
        description="per member replica and ingress replica: below it the members' own "
        "routers queue (and back off) behind the door")
    predicted_admitted_p99_bound_ms: float = Field(
        description="coe chaos's bound for these limits at the measured capacity")


def admitted_depth(max_ongoing_requests: int, max_queued_requests: int,
                   max_inflight_images: int, images_per_request: float = 1.0) -> int:
    """Requests an admitted one can wait behind: the door's worth in the ingress (no more
    than its ongoing limit) plus Serve's routing queue."""
    door = max(1, math.floor(max_inflight_images / images_per_request))
    return min(max_ongoing_requests, door) + max_queued_requests


def queue_limits(measured: MeasuredCapacity, target_p99_ms: float,
                 routing_queue: int = ROUTING_QUEUE) -> QueueLimits:
    """The deepest admitted queue whose overload p99 bound stays within `target_p99_ms`,
    held by the image door; Serve keeps only a routing queue."""
    rate_per_ms = measured.capacity_rps / 1000.0
    headroom_ms = target_p99_ms / SLACK - measured.service_p99_ms
    if headroom_ms <= 0:
        raise ValueError(
            f"target_p99_ms={target_p99_ms:g} is below {SLACK:g} x the service p99 "
            f"({measured.service_p99_ms:g} ms): no queue can meet it")
    if routing_queue < 0:
        raise ValueError(f"routing_queue must be >= 0, got {routing_queue}")
    depth = max(2, math.floor(headroom_ms * rate_per_ms))
    queued = min(routing_queue, depth // 2)
    door = depth - queued
    images = max(1, math.floor(door * measured.images_per_request))
    return QueueLimits(
        max_ongoing_requests=door + DOOR_SLACK, max_queued_requests=queued,
        max_inflight_images=images, member_max_ongoing_requests_at_least=images,
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
