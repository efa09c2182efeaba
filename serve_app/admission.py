"""Admission by images in flight: the ingress's door covers the members' fan-out.

Serve's own limits count requests, but one request of 64 images fans out into 64 x M
member calls. This budget counts the images this ingress replica is working on; a
request whose images do not fit is refused at once (503 + Retry-After) instead of
queueing member calls that would time out and leave tiers deciding on one vote.
Single-threaded (the replica's event loop), so plain integers suffice.
"""

from __future__ import annotations

import math
from contextlib import contextmanager


class Overloaded(Exception):
    """The in-flight image budget is full: a fast 503 with Retry-After."""

    status = 503
    code = "overloaded"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class ImageBudget:
    """At most `limit` images in flight; `retry_after_s` is what a refused client hears."""

    def __init__(self, limit: int, retry_after_s: float = 1.0) -> None:
        if limit < 1:
            raise ValueError("max_inflight_images must be >= 1")
        self.limit = self.configured_limit = limit
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.refused = 0
        self.refused_images = 0  # demand the door turned away (autoscaling counts it)
        self.shrinks = 0  # times the door narrowed (serve_app.replica_watch)

    def acquire(self, images: int) -> None:
        """Take `images` slots or raise Overloaded. A request larger than the whole budget
        is admitted alone (when nothing else is in flight), so it is never starved."""
        if self.in_flight and self.in_flight + images > self.limit:
            self.refused += 1
            self.refused_images += images
            raise Overloaded(
                f"{self.in_flight} images in flight, {images} more would exceed "
                f"max_inflight_images={self.limit}; retry later",
                self.retry_after_s,
            )
        self.in_flight += images

    def scale_to(self, share: float) -> None:
        """Admit `share` of the configured limit (rounded up, at least one image): the
        first tier's running share of its replicas (serve_app.replica_watch)."""
        limit = max(1, math.ceil(self.configured_limit * min(1.0, share) - 1e-9))
        self.shrinks += limit < self.limit
        self.limit = limit

    def release(self, images: int) -> None:
        self.in_flight = max(0, self.in_flight - images)

    @contextmanager
    def holding(self):
        """A context whose `take(n)` acquires; everything taken is released on exit."""
        held = [0]

        def take(images: int) -> None:
            self.acquire(images)
            held[0] += images

        try:
            yield take
        finally:
            self.release(held[0])
