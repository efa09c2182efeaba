"""Edge-escalated vs full-cascade traffic, counted apart (GET /v1/stats `traffic`, metrics).

A request with `X-Coe-Start-Tier` was escalated by an edge client that answered the easy
images itself; every other request ran the whole cascade here. Their per-prediction cost
and latency differ by design, so mixing them would hide what the edge saves.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from cost_model.record import usd_per_1k
from serve_app.runner import ImageOutcome

EDGE_ESCALATED = "edge_escalated"
FULL_CASCADE = "full_cascade"


def traffic_kind(start_tier: int) -> str:
    return EDGE_ESCALATED if start_tier > 0 else FULL_CASCADE


class TrafficStats(BaseModel):
    """Counters of one kind of traffic (answered requests only)."""

    requests: int = Field(description="2xx classify responses of this kind")
    images: int = Field(description="images answered")
    exits_by_tier: dict[str, int] = Field(description="tier -> images it answered")
    device_seconds: float = Field(description="cloud device-seconds (emulated on CPU)")
    usd_total: float = Field(description="attributed cloud dollars")
    usd_per_1k_predictions: float | None


class TrafficSplit:
    """Per traffic kind: requests, images, exits per tier, device-seconds, dollars."""

    def __init__(self) -> None:
        self._kinds = {kind: _Counts() for kind in (FULL_CASCADE, EDGE_ESCALATED)}

    def record(self, start_tier: int, outcomes: Iterable[ImageOutcome]) -> None:
        self._kinds[traffic_kind(start_tier)].add(outcomes)

    def snapshot(self) -> dict[str, TrafficStats]:
        return {kind: counts.stats() for kind, counts in self._kinds.items()}


class _Counts:
    def __init__(self) -> None:
        self.requests = 0
        self.images = 0
        self.exits: dict[str, int] = {}
        self.device_seconds = 0.0
        self.usd = 0.0

    def add(self, outcomes: Iterable[ImageOutcome]) -> None:
        self.requests += 1
        for outcome in outcomes:
            if outcome.label is None:
                continue
            self.images += 1
            self.exits[outcome.exit_tier] = self.exits.get(outcome.exit_tier, 0) + 1
            self.device_seconds += outcome.cost.device_seconds
            self.usd += outcome.cost.usd

    def stats(self) -> TrafficStats:
        return TrafficStats(
            requests=self.requests, images=self.images, exits_by_tier=dict(self.exits),
            device_seconds=self.device_seconds, usd_total=self.usd,
            usd_per_1k_predictions=usd_per_1k(self.usd, self.images),
        )


class TrafficMetrics:
    """`coe_traffic_*` Prometheus counters tagged traffic=edge_escalated|full_cascade.

    Built inside the ingress replica (ray.serve.metrics), never at import time.
    """

    def __init__(self) -> None:
        from ray.serve.metrics import Counter

        self.requests = Counter(
            "coe_traffic_requests", "answered classify requests by traffic kind",
            tag_keys=("traffic",),
        )
        self.images = Counter(
            "coe_traffic_images", "images answered by traffic kind", tag_keys=("traffic",)
        )
        self.usd = Counter(
            "coe_traffic_cost_usd", "attributed cloud dollars by traffic kind",
            tag_keys=("traffic",),
        )

    def record(self, start_tier: int, outcomes: list[ImageOutcome]) -> None:
        tags = {"traffic": traffic_kind(start_tier)}
        answered = [o for o in outcomes if o.label is not None]
        self.requests.inc(1, tags=tags)
        if answered:
            self.images.inc(len(answered), tags=tags)
        usd = sum(o.cost.usd for o in answered)
        if usd > 0:  # Ray counters refuse increments <= 0
            self.usd.inc(float(usd), tags=tags)
