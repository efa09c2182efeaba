"""HTTP schemas of the ingress (pydantic): requests, predictions, stats and errors.

The routes declare these as response models, so /openapi.json and /docs show the real
wire format; the tier trace is the runner's own dataclass, not a copy of its fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from cascade.config import CascadeConfig, ExitPolicyConfig
from cost_model.record import CostRecord
from serve_app.budget_keeper import BudgetStats
from serve_app.edge_stats import TrafficStats
from serve_app.runner import ImageOutcome, TierTrace

__all__ = [
    "BudgetStats",
    "ClassifyRequest",
    "ClassifyResponse",
    "CostRecord",
    "ErrorBody",
    "ErrorResponse",
    "ExitTier",
    "HealthResponse",
    "LatencySummary",
    "LiveCascade",
    "PolicyUpdate",
    "Prediction",
    "StatsResponse",
    "TierStats",
    "TierTrace",
    "error_responses",
]


class ClassifyRequest(BaseModel):
    """JSON body of POST /v1/classify: base64-encoded JPEG/PNG images."""

    model_config = ConfigDict(extra="forbid")

    images: list[str] = Field(min_length=1, description="base64 JPEG or PNG, one per image")


class PolicyUpdate(BaseModel):
    """Body of PUT /v1/cascade/policy and the ingress user_config: tier -> exit policy.

    Only the tiers named change; the rest keep their live policy. The PUT answers with
    the same shape: every tier's live policy after the change.
    """

    model_config = ConfigDict(extra="forbid")

    exit_policies: dict[str, ExitPolicyConfig] = Field(
        description="tier -> new policy; may be {} when only `budget` changes")
    budget: float | None = Field(
        default=None, gt=0, description="new average-cost target B (config `budget` unit)")

    @model_validator(mode="after")
    def _something_to_change(self) -> PolicyUpdate:
        if not self.exit_policies and self.budget is None:
            raise ValueError("exit_policies: give at least one tier's policy, or a budget")
        return self

    @model_serializer(mode="wrap")
    def _omit_unset_budget(self, handler):
        data = handler(self)
        if self.budget is None:
            data.pop("budget", None)
        return data


class LiveCascade(CascadeConfig):
    """GET /v1/cascade: the config with the live exit policies, and which store version
    (serve_app.policy_store) they are, set by the deployment config or by an admin."""

    policy_version: int = Field(description="counts up on every policy change")
    policy_source: Literal["config", "admin"]
    replica: str | None = Field(default=None, description="the ingress replica that answered")


class ExitTier(BaseModel):
    name: str
    index: int


class Prediction(BaseModel):
    """The cascade's answer for one image, with its trace and cost."""

    label: int
    class_name: str
    confidence: float
    exit_tier: ExitTier
    tiers: list[TierTrace]
    latency_ms: float
    cost: CostRecord
    degraded: bool = False
    reason: str | None = None
    source: Literal["members", "collage"] = Field(
        default="members", description="collage: a straggling member's vote came from the "
        "collage CNN (redundancy kind collage); such answers are degraded")

    @classmethod
    def from_outcome(cls, outcome: ImageOutcome, class_name: str) -> Prediction:
        """The answer for an image the cascade labelled (`outcome.label` is not None)."""
        return cls(
            label=outcome.label,
            class_name=class_name,
            confidence=outcome.confidence,
            exit_tier=ExitTier(name=outcome.exit_tier, index=outcome.exit_index),
            tiers=outcome.tiers,
            latency_ms=outcome.latency_ms,
            cost=outcome.cost,
            degraded=outcome.degraded,
            reason="; ".join(outcome.reasons) if outcome.reasons else None,
            source=outcome.source,
        )


class ClassifyResponse(BaseModel):
    """Body of a 200 from POST /v1/classify: one prediction per image, in request order."""

    predictions: list[Prediction]
    gear: str | None = Field(
        default=None, description="the load gear whose thresholds answered (gears configured)")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    cascade: str = Field(description="the cascade's name")
    tiers: int = Field(description="number of tiers")


class TierStats(BaseModel):
    name: str
    index: int
    gpu_class: str
    images_in: int = Field(description="images this tier saw")
    exits: int
    escalations: int
    escalation_rate: float | None


class LatencySummary(BaseModel):
    count: int = Field(description="latencies in the window (bounded ring buffer)")
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class DoorStats(BaseModel):
    """The image door of this ingress replica (serve_app.admission, serve_app.replica_watch)."""

    limit: int = Field(description="images in flight admitted now")
    configured_limit: int = Field(description="ingress.max_inflight_images")
    running_share: float = Field(
        description="the first tier's running replicas over the configured ones (the "
        "smallest over its watched members); 1.0 when not watched")
    watched: list[str] = Field(description="deployments whose replicas the door follows")
    in_flight: int
    refused_requests: int
    shrinks: int = Field(description="times the door shrank because a replica was down")
    status_polls: int = Field(description="serve.status() reads the watch made")


class AnatomySummary(BaseModel):
    """Mean parts (ms) of the median calls (total p40-p60) and of the tail (total >= p99)."""

    count: int
    total_p50_ms: float
    total_p99_ms: float
    median_ms: dict[str, float]
    tail_ms: dict[str, float]
    tail_calls: int


class Anatomy(BaseModel):
    requests: AnatomySummary | None = Field(
        default=None, description="ingress parts of 2xx classify requests: read_decode, "
        "cascade, answer")
    member_calls: dict[str, AnatomySummary | None] = Field(
        default_factory=dict, description="'<tier>/<member>' -> parts of its answered calls: "
        "to_replica, queue, forward, back")


class StatsResponse(BaseModel):
    """Live counters of this ingress replica since it started."""

    requests: int = Field(description="accepted requests = 2xx + 4xx + 5xx")
    responses_by_status: dict[str, int]
    images: int = Field(description="images answered (in 2xx responses)")
    degraded: int
    tiers: list[TierStats]
    device_seconds_by_gpu_class: dict[str, float]
    usd_by_gpu_class: dict[str, float]
    usd_total: float
    usd_per_1k_predictions: float | None
    latency_ms: LatencySummary
    emulated: bool
    note: str
    batch_size_by_member: dict[str, float] = Field(
        default_factory=dict,
        description="'<tier>/<member>' -> mean live batch size (images / forward calls); "
        "compare with `coe plan --json` predicted_batch",
    )
    traffic: dict[str, TrafficStats] = Field(
        default_factory=dict,
        description="full_cascade vs edge_escalated (X-Coe-Start-Tier) requests, apart",
    )
    redundancy: dict | None = Field(
        default=None,
        description="redundancy cost and backup answers (serve_app.redundancy.RedundancyLedger)"
        "; also says when faults (straggler injection) were injected",
    )
    budget: BudgetStats | None = Field(
        default=None, description="the config's budget B and the keeper (learned policy)")
    gears: dict | None = Field(
        default=None, description="active load gear, its arrival rate and switches "
        "(serve_app.gear_shift.GearShifter)")
    client_closed: int = Field(
        default=0, description="requests whose client disconnected first (not in 5xx)"
    )
    door: DoorStats | None = Field(
        default=None, description="the image door (ingress.max_inflight_images) now")
    wasted_device_seconds_by_gpu_class: dict[str, float] = Field(
        default_factory=dict,
        description="device time that ran but whose result was not used (cancelled after "
        "it started, timed out); device_seconds_by_gpu_class is the used time",
    )
    wasted_usd_by_gpu_class: dict[str, float] = Field(default_factory=dict)
    billed_usd_total: float = Field(
        default=0.0, description="usd_total (used) + wasted: what the device time cost"
    )
    anatomy: Anatomy | None = Field(
        default=None, description="where the time goes: the median vs the tail (>= p99) "
        "of this replica's requests and of each member's calls (serve_app.call_anatomy)")


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. corrupt_image")
    message: str = Field(description="what was wrong, naming the field or limit")


class ErrorResponse(BaseModel):
    """Body of every 4xx and 5xx the ingress itself answers."""

    error: ErrorBody


ERROR_DESCRIPTIONS = {
    400: "Bad input: an unreadable image, bad base64, a bad deadline header",
    401: "No `Authorization: Bearer <token>` header",
    403: "The admin token is not valid",
    404: "Not found (the admin API is off when no admin token is configured)",
    413: "Body, image count or pixel count over the configured limit",
    415: "Content type or image format not accepted",
    422: "The JSON body does not match its schema, or a bad start tier / edge votes header",
    500: "The server failed (see its logs)",
    503: "No tier could answer; retry after Retry-After seconds",
    504: "The request's deadline expired (ingress.on_deadline: error)",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """The `responses=` of a route: each status documented with the ErrorResponse body."""
    return {
        status: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[status]}
        | ({"headers": RETRY_AFTER} if status == 503 else {})
        for status in statuses
    }
