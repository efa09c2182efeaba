"""What a load run records per request, and the summary computed from those records.

Every request the driver sends ends as exactly one `RequestRecord` with an outcome of
`answered` (any HTTP status), `timeout` or `error` (connection refused, reset, ...), so
`sent == answered + errors + timeouts` holds by construction and is checked again here.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cost_model.prices import PriceTable
from cost_model.provisioned import ProvisionedCost
from cost_model.summary import CostSummary, RequestCost, summarise_costs

Outcome = Literal["answered", "timeout", "error"]


class RequestRecord(BaseModel):
    """One request: when it was sent, what came back, whether it was right, what it cost."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(description="order in which the driver sent it")
    image_index: int
    label: int
    t_send: float = Field(description="seconds since the start of the run")
    latency_s: float = Field(description="send to response (or to the timeout / error)")
    outcome: Outcome
    status: int | None = None
    ok: bool = Field(default=False, description="2xx with a well-formed prediction")
    predicted: int | None = None
    correct: bool | None = None
    exit_tier: str | None = None
    exit_tier_index: int | None = None
    cost: RequestCost | None = None
    degraded: bool | None = None
    source: str | None = Field(default=None, description="'collage' if a collage cell voted")
    server_latency_ms: float | None = Field(
        default=None, description="time inside the cascade, as the answer reports it"
    )
    error: str | None = None
    retries_after_503: int = Field(
        default=0, description="503s answered with Retry-After that the client waited out "
        "and re-sent (only with retry_503); latency_s includes the waits")
    shed_reason: str | None = Field(
        default=None, description="what the last 503 the client waited out said (only with "
        "retry_503): tells the proxy's backpressure from the cascade's own door")


class LatencyStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    max_ms: float | None


class LoadSummary(BaseModel):
    """The figures a reader wants from one run, all derived from the records."""

    model_config = ConfigDict(extra="forbid")

    url: str
    schedule: str
    max_requests: int
    max_seconds: float
    timeout_s: float
    images: int
    sent: int
    answered: int
    errors: int
    timeouts: int
    ok: int
    bad_responses: int = Field(description="2xx whose body was not a prediction")
    degraded: int
    status_counts: dict[str, int]
    retries_after_503: int = Field(default=0, description="503s waited out and re-sent")
    waited_503_reasons: dict[str, int] = Field(
        default_factory=dict, description="requests whose client waited out a 503, by what "
        "the last such 503 said (Serve's backpressure or the cascade's door)")
    accuracy: float | None = Field(description="correct / ok (over 2xx predictions)")
    latency: LatencyStats = Field(description="over ok responses")
    duration_s: float = Field(description="start to the last response or timeout")
    send_window_s: float = Field(description="start to the last send")
    offered_rps: float | None
    throughput_rps: float | None = Field(description="ok responses per second of duration")
    exits_per_tier: dict[str, int]
    cost: CostSummary
    emulated: bool


def _latency_stats(latencies_s: list[float]) -> LatencyStats:
    if not latencies_s:
        return LatencyStats(p50_ms=None, p95_ms=None, p99_ms=None, mean_ms=None, max_ms=None)
    ms = np.asarray(latencies_s) * 1000.0
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return LatencyStats(
        p50_ms=float(p50), p95_ms=float(p95), p99_ms=float(p99),
        mean_ms=float(ms.mean()), max_ms=float(ms.max()),
    )


def summarise(
    records: list[RequestRecord],
    *,
    run: dict[str, Any],
    prices: PriceTable,
    provisioned: ProvisionedCost | None = None,
) -> LoadSummary:
    """Summarise a run; `run` carries url, schedule, limits and image count."""
    sent = len(records)
    outcomes = Counter(r.outcome for r in records)
    answered, errors, timeouts = outcomes["answered"], outcomes["error"], outcomes["timeout"]
    if sent != answered + errors + timeouts:  # cannot happen unless a record is malformed
        raise AssertionError(f"accounting: sent={sent} != {answered}+{errors}+{timeouts}")
    ok_records = [r for r in records if r.ok]
    statuses = Counter(str(r.status) for r in records if r.status is not None)
    bad = sum(1 for r in records if r.status is not None and 200 <= r.status < 300 and not r.ok)
    tiers = sorted(
        {(r.exit_tier_index if r.exit_tier_index is not None else -1, r.exit_tier or "?")
         for r in ok_records}
    )
    exit_counts = Counter(r.exit_tier or "?" for r in ok_records)
    duration = max((r.t_send + r.latency_s for r in records), default=0.0)
    send_window = max((r.t_send for r in records), default=0.0)
    correct = sum(1 for r in ok_records if r.correct)
    costs = [r.cost for r in ok_records if r.cost is not None]
    cost_summary = summarise_costs(costs, prices, provisioned)
    return LoadSummary(
        url=run["url"],
        schedule=run["schedule"],
        max_requests=run["max_requests"],
        max_seconds=run["max_seconds"],
        timeout_s=run["timeout_s"],
        images=run["images"],
        sent=sent,
        answered=answered,
        errors=errors,
        timeouts=timeouts,
        ok=len(ok_records),
        bad_responses=bad,
        degraded=sum(1 for r in ok_records if r.degraded),
        status_counts=dict(sorted(statuses.items())),
        retries_after_503=sum(r.retries_after_503 for r in records),
        waited_503_reasons=dict(Counter(r.shed_reason for r in records if r.shed_reason)),
        accuracy=correct / len(ok_records) if ok_records else None,
        latency=_latency_stats([r.latency_s for r in ok_records]),
        duration_s=duration,
        send_window_s=send_window,
        offered_rps=sent / send_window if send_window > 0 else None,
        throughput_rps=len(ok_records) / duration if duration > 0 else None,
        exits_per_tier={name: exit_counts[name] for _, name in tiers},
        cost=cost_summary,
        emulated=cost_summary.emulated,
    )
