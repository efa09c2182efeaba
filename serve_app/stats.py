"""In-memory live counters behind GET /v1/stats: pure Python, bounded memory, unit-tested.

One aggregator per ingress replica. Latencies go into a fixed-size ring buffer so a
long-running server never grows; counters are plain integers and floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from cost_model.device_time import emulation_note
from cost_model.record import mean_batch_sizes, usd_per_1k
from serve_app.call_anatomy import (
    MEMBER_CALL_PARTS,
    REQUEST_PARTS,
    AnatomyRing,
    member_call_parts_ms,
)
from serve_app.ring_buffer import RingBuffer
from serve_app.runner import ImageOutcome
from serve_app.schemas import LatencySummary, StatsResponse, TierStats


class LatencyRing(RingBuffer):
    """The last `capacity` latencies, for percentiles without unbounded memory."""

    def __init__(self, capacity: int = 10_000) -> None:
        super().__init__(capacity)

    def percentiles(self, qs: Sequence[float]) -> list[float | None]:
        if not len(self):
            return [None for _ in qs]
        return [float(v) for v in np.percentile(self.rows()[:, 0], list(qs))]


def status_class(status: int) -> str:
    """'2xx', '4xx', '5xx' (anything else by its first digit)."""
    return f"{status // 100}xx"


class StatsAggregator:
    """Counts requests by status class, images, per-tier exits, device-seconds and dollars."""

    def __init__(
        self,
        tiers: Sequence[tuple[str, str]],
        latency_capacity: int = 10_000,
        prices: Mapping[str, float] | None = None,
    ) -> None:
        """`tiers`: (name, gpu_class) in cascade order; `prices`: $/device-second by GPU
        class, to bill wasted device time (serve_app.waste)."""
        self._tiers = list(tiers)
        self._images_in = [0] * len(tiers)
        self._exits = [0] * len(tiers)
        self._escalations = [0] * len(tiers)
        self._by_status = {"2xx": 0, "4xx": 0, "5xx": 0}
        self._images = 0
        self._degraded = 0
        self._device_seconds: dict[str, float] = {}
        self._usd: dict[str, float] = {}
        self._member_images: dict[str, int] = {}
        self._member_batches: dict[str, float] = {}
        self._emulated = False
        self._latency = LatencyRing(latency_capacity)
        self._prices = dict(prices or {})
        self._wasted_seconds: dict[str, float] = {}
        self._client_closed = 0
        self._request_parts = AnatomyRing(REQUEST_PARTS)
        self._call_parts: dict[str, AnatomyRing] = {}

    def record_member_call(self, tier: str, member: str, result) -> None:
        """The parts of one answered member call (serve_app.call_anatomy), if stamped."""
        parts = member_call_parts_ms(result)
        if parts is None:
            return
        key = f"{tier}/{member}"
        ring = self._call_parts.get(key)
        if ring is None:
            ring = self._call_parts[key] = AnatomyRing(MEMBER_CALL_PARTS)
        ring.add(parts)

    def record_request_parts(self, read_decode_ms: float, cascade_ms: float,
                             answer_ms: float) -> None:
        """The ingress-side parts of one answered (2xx) classify request."""
        self._request_parts.add((read_decode_ms, cascade_ms, answer_ms))

    def anatomy(self) -> dict:
        """Median-vs-tail parts of the ingress's requests and of each member's calls."""
        members = {key: ring.summary() for key, ring in sorted(self._call_parts.items())}
        return {"requests": self._request_parts.summary(), "member_calls": members}

    def record_client_closed(self) -> None:
        """A client went away before its answer: counted apart, never as a 5xx."""
        self._client_closed += 1

    def record_wasted(self, gpu_class: str, device_seconds: float) -> None:
        """Device time that ran but whose result was not used: billed, reported as wasted."""
        self._wasted_seconds[gpu_class] = self._wasted_seconds.get(gpu_class, 0.0) + device_seconds

    def record_response(self, status: int, latency_ms: float | None = None) -> None:
        """Count one answered HTTP request (every status); latency only for 2xx."""
        key = status_class(status)
        self._by_status[key] = self._by_status.get(key, 0) + 1
        if latency_ms is not None and 200 <= status < 300:
            self._latency.add(latency_ms)

    def record_outcomes(self, outcomes: Iterable[ImageOutcome]) -> None:
        """Add the answered images of one request (tier exits, costs)."""
        for outcome in outcomes:
            if outcome.label is None:
                continue
            self._images += 1
            self._degraded += int(outcome.degraded)
            for trace in outcome.tiers:
                if trace.site == "edge":  # ran on the client: not this server's tier work
                    continue
                self._images_in[trace.index] += 1
                if trace.decision == "exit":
                    self._exits[trace.index] += 1
                else:
                    self._escalations[trace.index] += 1
            cost = outcome.cost
            for gpu_class, seconds in cost.device_seconds_by_gpu_class.items():
                self._device_seconds[gpu_class] = self._device_seconds.get(gpu_class, 0.0) + seconds
            for gpu_class, usd in cost.usd_by_gpu_class.items():
                self._usd[gpu_class] = self._usd.get(gpu_class, 0.0) + usd
            for member, share in cost.batches_by_member.items():
                self._member_images[member] = self._member_images.get(member, 0) + 1
                self._member_batches[member] = self._member_batches.get(member, 0.0) + share
            self._emulated = self._emulated or cost.emulated

    def counters(self) -> tuple[int, list[int]]:
        """Images answered and exits per tier so far (for the autoscaling policy)."""
        return self._images, list(self._exits)

    def snapshot(self) -> StatsResponse:
        tiers = []
        for index, (name, gpu_class) in enumerate(self._tiers):
            seen = self._images_in[index]
            tiers.append(
                TierStats(
                    name=name,
                    index=index,
                    gpu_class=gpu_class,
                    images_in=seen,
                    exits=self._exits[index],
                    escalations=self._escalations[index],
                    escalation_rate=self._escalations[index] / seen if seen else None,
                )
            )
        p50, p95, p99 = self._latency.percentiles([50, 95, 99])
        total_usd = sum(self._usd.values())
        wasted_usd = {
            gpu: seconds * self._prices.get(gpu, 0.0)
            for gpu, seconds in self._wasted_seconds.items()
        }
        return StatsResponse(
            requests=sum(self._by_status.values()),
            responses_by_status=dict(self._by_status),
            images=self._images,
            degraded=self._degraded,
            tiers=tiers,
            device_seconds_by_gpu_class=dict(self._device_seconds),
            usd_by_gpu_class=dict(self._usd),
            usd_total=total_usd,
            usd_per_1k_predictions=usd_per_1k(total_usd, self._images),
            latency_ms=LatencySummary(count=len(self._latency), p50_ms=p50, p95_ms=p95, p99_ms=p99),
            emulated=self._emulated,
            note=emulation_note(self._emulated),
            batch_size_by_member=mean_batch_sizes(self._member_images, self._member_batches),
            client_closed=self._client_closed,
            wasted_device_seconds_by_gpu_class=dict(self._wasted_seconds),
            wasted_usd_by_gpu_class=wasted_usd,
            billed_usd_total=total_usd + sum(wasted_usd.values()),
            anatomy=self.anatomy(),
        )
