"""Prometheus metrics of the cascade via ray.serve.metrics (exported by Ray's metrics agent).

Created inside the ingress replica (never at import time). Names carry a `coe_` prefix;
Ray adds `ray_` and the deployment/replica/application tags.
"""

from __future__ import annotations

from collections.abc import Iterable

from serve_app.runner import ImageOutcome

LATENCY_BOUNDARIES_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]


class CascadeMetrics:
    """Counters and a latency histogram for requests, images, tier exits and cost."""

    def __init__(self) -> None:
        from ray.serve.metrics import Counter, Histogram

        self.requests = Counter(
            "coe_requests", "HTTP requests by status class", tag_keys=("status",)
        )
        self.images = Counter("coe_images", "images answered")
        self.exits = Counter("coe_tier_exits", "images answered by a tier", tag_keys=("tier",))
        self.escalations = Counter(
            "coe_tier_escalations", "images sent on by a tier", tag_keys=("tier",)
        )
        self.degraded = Counter("coe_degraded_predictions", "answers with a failed member")
        self.device_seconds = Counter(
            "coe_device_seconds",
            "device-seconds (emulated on CPU) by GPU class",
            tag_keys=("gpu_class", "emulated"),
        )
        self.usd = Counter(
            "coe_cost_usd", "attributed dollars by GPU class", tag_keys=("gpu_class", "emulated")
        )
        self.latency = Histogram(
            "coe_request_latency_ms",
            "end-to-end latency of POST /v1/classify in the ingress",
            boundaries=LATENCY_BOUNDARIES_MS,
        )

    def record_response(self, status: int, latency_ms: float | None) -> None:
        self.requests.inc(1, tags={"status": f"{status // 100}xx"})
        if latency_ms is not None and 200 <= status < 300:
            self.latency.observe(latency_ms)

    def record_outcomes(self, outcomes: Iterable[ImageOutcome]) -> None:
        for outcome in outcomes:
            if outcome.label is None:
                continue
            self.images.inc(1)
            if outcome.degraded:
                self.degraded.inc(1)
            for trace in outcome.tiers:
                if trace.site == "edge":  # ran on the client: not this server's tier work
                    continue
                target = self.exits if trace.decision == "exit" else self.escalations
                target.inc(1, tags={"tier": trace.tier})
            emulated = "true" if outcome.cost.emulated else "false"
            for gpu_class, seconds in outcome.cost.device_seconds_by_gpu_class.items():
                tags = {"gpu_class": gpu_class, "emulated": emulated}
                usd = outcome.cost.usd_by_gpu_class.get(gpu_class, 0.0)
                if seconds > 0:  # Ray counters refuse increments <= 0
                    self.device_seconds.inc(float(seconds), tags=tags)
                if usd > 0:
                    self.usd.inc(float(usd), tags=tags)
