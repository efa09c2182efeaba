"""Redundancy and straggler-injection sections of the cascade config, and the straggler timeout.

Collage inference (arXiv 1904.12222): a collage CNN on its own GPU class classifies s x s
groups of the protected tier's images in one pass, in parallel with the normal member
calls; a member answer later than the straggler timeout (or failed) is replaced by the
image's collage cell. Replication is the baseline: every protected call goes to two
replicas and the first answer wins. Faults (straggler injection) exist for tests and
benchmarks only and are off unless the `faults` section is set.

Pure (no Ray): the ingress builds its timeout policy from here and unit tests drive it.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


class RedundancyConfig(BaseModel):
    """`redundancy:` how the protected tier is shielded from straggling member calls."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["collage", "replication"]
    tier: int = Field(default=0, ge=0, description="index of the protected tier")
    grid: int = Field(default=2, description="collage of grid x grid images (2 or 3)")
    gpu_class: str | None = Field(default=None, description="the collage deployment's GPU class")
    straggler_timeout_ms: float | Literal["adaptive"] = Field(
        default="adaptive",
        description="fixed ms, or 'adaptive': adaptive_margin x the member's recent p95",
    )
    adaptive_margin: float = Field(
        default=2.0, ge=1.0, le=10.0,
        description="2.0, not the paper-free 1.5: at 1.5 the natural tail of a shared host "
        "fired the backup without any fault (docs/COLLAGE.md)")
    adaptive_window: int = Field(default=200, ge=10, le=100_000)
    adaptive_min_samples: int = Field(default=20, ge=1)
    adaptive_initial_ms: float = Field(default=200.0, gt=0, description="before min_samples")
    adaptive_floor_ms: float = Field(default=5.0, ge=0)
    peer_lag_margin: float | None = Field(
        default=None, ge=1.0, le=50.0,
        description="a member whose peer answered is a straggler once it is this many times "
        "its usual lag behind the tier's first answer (p95 of its recent lags, at least "
        "peer_lag_floor_ms): a slowdown of the whole host delays every member alike and "
        "cancels out. None: the own-latency timeout above only")
    peer_lag_floor_ms: float = Field(default=10.0, ge=0.0, le=10_000.0)
    window_ms: float = Field(
        default=60.0, ge=0.0, le=1000.0,
        description="the longest a partial collage waits to fill"
    )
    ready_by_timeout: bool = Field(
        default=True,
        description="close a partial collage early enough that its cells are back when the "
        "earliest member's straggler timeout fires: the window is that timeout minus the "
        "collage call's recent median, within [min_window_ms, window_ms]. Off: always "
        "window_ms (at 10 req/s a 60-ms window made the cells, not the timeout, set the "
        "stand-ins' latency: docs/COLLAGE.md)")
    min_window_ms: float = Field(default=2.0, ge=0.0, le=1000.0)
    skip_answered: bool = Field(
        default=True,
        description="send only the images still waiting on a member when the window ends: "
        "an image whose member calls all ended (none failed) leaves its group unsent, and "
        "groups are sent at the window's end, not when full. Off: every image is backed up "
        "(the paper's eager collages)")
    max_inflight_collages: int = Field(
        default=8, ge=1, le=10_000,
        description="collages in flight per ingress replica; a group beyond it goes without "
        "backup (shed), so a saturated cluster never queues backup work (chaos-collage-b: "
        "unbounded, 3x overload cut admitted throughput from 81 to 21 req/s in 30 s)")
    replicas: int = Field(default=1, ge=1, le=64, description="collage deployment replicas")
    gpu_fraction: float = Field(default=0.25, gt=0.0, le=8.0)

    @field_validator("grid")
    @classmethod
    def _supported_grid(cls, value: int) -> int:
        if value not in (2, 3):
            raise ValueError(f"grid {value} is not supported; use 2 or 3")
        return value

    @field_validator("gpu_class")
    @classmethod
    def _known_gpu_class(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        from cost_model.catalog import load_catalog

        catalog = load_catalog((info.context or {}).get("catalog"))
        if value not in catalog.classes:
            known = ", ".join(sorted(catalog.classes))
            raise ValueError(f"unknown GPU class {value!r}; known classes: {known}")
        return value

    @model_validator(mode="after")
    def _collage_needs_class(self) -> RedundancyConfig:
        if self.kind == "collage" and self.gpu_class is None:
            raise ValueError("gpu_class: a collage deployment needs its GPU class")
        return self


class FaultsConfig(BaseModel):
    """`faults:` straggler injection, for tests and benchmarks only (off unless set).

    A `fraction` of member calls (independently drawn) answer late: by `factor` x their own
    latency, or by `delay_ms` more. Every report of a run with faults says so.
    """

    model_config = ConfigDict(extra="forbid")

    fraction: float = Field(ge=0.0, le=1.0, description="share of member calls delayed")
    factor: float | None = Field(default=None, ge=1.0, description="latency x factor")
    delay_ms: float | None = Field(default=None, ge=0.0, description="or latency + delay_ms")
    tiers: list[str] | None = Field(default=None, description="tier names; None = every tier")
    seed: int = 0

    @model_validator(mode="after")
    def _one_delay(self) -> FaultsConfig:
        if (self.factor is None) == (self.delay_ms is None):
            raise ValueError("faults: give exactly one of factor or delay_ms")
        return self

    def extra_delay_s(self, elapsed_s: float) -> float:
        """Seconds a delayed call waits beyond its real `elapsed_s`."""
        if self.factor is not None:
            return max(self.factor - 1.0, 0.0) * elapsed_s
        return float(self.delay_ms or 0.0) / 1000.0

    def describe(self) -> str:
        how = f"{self.factor:g}x latency" if self.factor is not None else f"+{self.delay_ms:g} ms"
        where = ", ".join(self.tiers) if self.tiers else "every tier"
        return f"faults injected: {self.fraction:.1%} of member calls delayed by {how} ({where})"


def _floored_margin_p95(ring, margin: float, floor_ms: float) -> float:
    """margin x the p95 of a ring of recent ms values, never below floor_ms: the rule both
    straggler policies scale their history by."""
    return max(floor_ms, margin * float(np.percentile(np.asarray(ring), 95)))


def ready_by_timeout_window_s(max_window_s: float, timeout_s: float, call_s: float | None,
                              min_window_s: float = 0.0) -> float:
    """How long a partial collage may wait to fill so that its cells are back by the time a
    straggler is declared (`timeout_s` after the member calls start, which is when the first
    image of the group arrived): the timeout minus the collage call's typical time, within
    [min_window_s, max_window_s]. Before any call has been timed: the longest window."""
    if call_s is None:
        return max_window_s
    return min(max_window_s, max(min_window_s, timeout_s - call_s))


class StragglerTimeout:
    """When a protected member's answer counts as a straggler, per member.

    Fixed: `straggler_timeout_ms`. Adaptive: margin x p95 of the member's recent answered
    latencies; `initial_ms` until `min_samples` are known; never below `floor_ms`. Calls
    the backup replaced are not observed (their latency is unknown, and counting them at the
    timeout would ratchet the estimate up whenever >= 5% of calls straggle); a member that
    answers late but before the backup is observed, so a member that slows down as a whole
    (and beats the backup) raises its own timeout.
    """

    def __init__(
        self,
        fixed_ms: float | None = None,
        margin: float = 2.0,
        window: int = 200,
        min_samples: int = 20,
        initial_ms: float = 200.0,
        floor_ms: float = 5.0,
    ) -> None:
        self.fixed_ms = fixed_ms
        self.margin = margin
        self.window = window
        self.min_samples = min_samples
        self.initial_ms = initial_ms
        self.floor_ms = floor_ms
        self._latencies: dict[str, deque[float]] = {}

    @classmethod
    def from_config(cls, config: RedundancyConfig) -> StragglerTimeout:
        fixed = config.straggler_timeout_ms
        return cls(
            fixed_ms=None if fixed == "adaptive" else float(fixed),
            margin=config.adaptive_margin,
            window=config.adaptive_window,
            min_samples=config.adaptive_min_samples,
            initial_ms=config.adaptive_initial_ms,
            floor_ms=config.adaptive_floor_ms,
        )

    def observe(self, member: str, latency_ms: float) -> None:
        """Record the latency of one call the member answered itself."""
        ring = self._latencies.setdefault(member, deque(maxlen=self.window))
        ring.append(float(latency_ms))

    def median_ms(self) -> dict[str, float]:
        """Each member's median answered latency, once min_samples are known."""
        return {member: float(np.median(np.asarray(ring)))
                for member, ring in self._latencies.items() if len(ring) >= self.min_samples}

    def current_ms(self) -> dict[str, float]:
        """Each member's timeout now (GET /v1/stats: what a straggler must exceed)."""
        return {member: round(self.timeout_ms(member), 1) for member in self._latencies}

    def earliest_ms(self) -> float:
        """The shortest timeout of any member now: when the first straggler can be declared."""
        if self.fixed_ms is not None:
            return self.fixed_ms
        if not self._latencies:
            return self.initial_ms
        return min(self.timeout_ms(member) for member in self._latencies)

    def timeout_ms(self, member: str) -> float:
        if self.fixed_ms is not None:
            return self.fixed_ms
        ring = self._latencies.get(member)
        if ring is None or len(ring) < self.min_samples:
            return self.initial_ms
        return _floored_margin_p95(ring, self.margin, self.floor_ms)


class PeerLag:
    """How far behind the tier's first answer each member usually answers, and the slack
    after which it counts as a straggler (`RedundancyConfig.peer_lag_margin`).

    A member that answered first has lag 0. Only answers the member gave itself are
    observed (as in StragglerTimeout).
    """

    def __init__(self, margin: float | None = None, floor_ms: float = 10.0,
                 window: int = 200, min_samples: int = 20) -> None:
        self.margin = margin
        self.floor_ms = floor_ms
        self.min_samples = min_samples
        self.window = window
        self._lags: dict[str, deque[float]] = {}

    @classmethod
    def from_config(cls, config: RedundancyConfig) -> PeerLag:
        return cls(margin=config.peer_lag_margin, floor_ms=config.peer_lag_floor_ms,
                   window=config.adaptive_window, min_samples=config.adaptive_min_samples)

    @property
    def enabled(self) -> bool:
        """The rule decides stragglers (a margin is set); off, the lags are only reported."""
        return self.margin is not None

    def observe(self, member: str, lag_ms: float) -> None:
        self._lags.setdefault(member, deque(maxlen=self.window)).append(max(0.0, lag_ms))

    def slack_ms(self, member: str) -> float | None:
        """How long after the tier's first answer the member becomes a straggler; None
        while the rule is off or fewer than min_samples lags are known."""
        ring = self._lags.get(member)
        if self.margin is None or ring is None or len(ring) < self.min_samples:
            return None
        return _floored_margin_p95(ring, self.margin, self.floor_ms)

    def earliest_declaration_ms(self, median_latency_ms: dict[str, float]) -> float | None:
        """When a straggler is typically declared, from the member calls' start: for each
        member, its fastest peer's median latency plus its slack; the earliest of those
        (None until a slack and a peer's median are known). A fast member straggles only
        after its slower peer answered, so its declaration comes late, not at the tier's
        usual first answer."""
        times = []
        for member in self._lags:
            slack = self.slack_ms(member)
            peers = [ms for other, ms in median_latency_ms.items() if other != member]
            if slack is not None and peers:
                times.append(min(peers) + slack)
        return min(times) if times else None

    def snapshot(self) -> dict:
        """Per member: lag p50 / p95 and the slack in force (GET /v1/stats)."""
        out = {}
        for member, ring in self._lags.items():
            p50, p95 = np.percentile(np.asarray(ring), [50, 95])
            slack = self.slack_ms(member)
            out[member] = {"lag_p50": round(float(p50), 1), "lag_p95": round(float(p95), 1),
                           "slack_ms": None if slack is None else round(slack, 1)}
        return out
