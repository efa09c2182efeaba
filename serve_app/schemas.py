"""HTTP schemas of the ingress (pydantic): requests, predictions, stats and errors."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cascade.config import ExitPolicyConfig
from cost_model.record import CostRecord

__all__ = [
    "ClassifyRequest",
    "ClassifyResponse",
    "CostRecord",
    "ErrorBody",
    "ErrorResponse",
    "ExitTier",
    "LatencySummary",
    "PolicyUpdate",
    "Prediction",
    "StatsResponse",
    "TierStats",
    "TierTrace",
]


class ClassifyRequest(BaseModel):
    """JSON body of POST /v1/classify: base64-encoded JPEG/PNG images."""

    model_config = ConfigDict(extra="forbid")

    images: list[str] = Field(min_length=1, description="base64 JPEG or PNG, one per image")


class PolicyUpdate(BaseModel):
    """Body of PUT /v1/cascade/policy and the ingress user_config: tier -> exit policy.

    Only the tiers named change; the rest keep their live policy.
    """

    model_config = ConfigDict(extra="forbid")

    exit_policies: dict[str, ExitPolicyConfig] = Field(min_length=1)


class ExitTier(BaseModel):
    name: str
    index: int


class TierTrace(BaseModel):
    """What one tier did for one image."""

    tier: str
    index: int
    votes: dict[str, int | None] = Field(description="member -> voted label (null: no answer)")
    label: int | None
    confidence: float | None
    agreement: float | None
    decision: Literal["exit", "escalate", "failed"]
    policy_met: bool
    missing: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)
    cancelled: list[str] = Field(default_factory=list)


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


class ClassifyResponse(BaseModel):
    predictions: list[Prediction]


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


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody
