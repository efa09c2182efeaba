"""Escalation-aware replica sizing: plain functions, no Ray, shared by the live and the sim.

Why: the load on tier k is the ingress arrival rate times the fraction of requests that
reach tier k, and that fraction moves with the input mix. A queue-driven autoscaler sees an
upper tier's load only once its queue has grown; sizing every tier from (arrival rate x
live reach) scales the upper tiers as soon as escalation rises, before their queues do.

A replica's throughput comes from its call time per batch (device model or measurement)
and a per-request host cost; the batch it forms follows Serve's batcher (one request opens
a batch, the window adds rate x batch_wait_timeout_s more, capped at max_batch_size).
`desired_replicas` sizes; `apply_delays` holds scale-ups for `upscale_delay_s` and
scale-downs for `downscale_delay_s` as Serve does (the live system leaves the delays to
Serve's own wrapper; the simulator calls `apply_delays`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MemberLoadModel:
    """What sizing needs to know about one member deployment."""

    deployment: str
    tier: int
    call_seconds: tuple[float, ...]  # device-seconds of one call at batch 1..max_batch_size
    batch_wait_timeout_s: float = 0.005
    host_seconds_per_request: float = 0.0  # per-request work outside the device (Serve, decode)
    min_replicas: int = 1
    max_replicas: int = 8

    def __post_init__(self) -> None:
        if not self.call_seconds or any(s <= 0 for s in self.call_seconds):
            raise ValueError(f"{self.deployment}: call_seconds must be positive, per batch size")
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"{self.deployment}: max_replicas below min_replicas")

    @property
    def max_batch_size(self) -> int:
        return len(self.call_seconds)

    def batch_size(self, rate_per_replica: float) -> int:
        """Mean batch Serve's batcher forms at this per-replica rate (whole images)."""
        mean = 1.0 + max(float(rate_per_replica), 0.0) * self.batch_wait_timeout_s
        return max(1, min(self.max_batch_size, int(mean + 0.5)))

    def seconds_per_image(self, batch: int) -> float:
        """Busy time of one replica per image at this batch: device and host in series is
        too pessimistic (the batcher overlaps them); the slower of the two bounds it."""
        device = self.call_seconds[batch - 1] / batch
        return max(device, self.host_seconds_per_request)

    def utilisation(self, rate_per_replica: float) -> float:
        """Fraction of the time one replica is busy at this per-replica request rate."""
        if rate_per_replica <= 0:
            return 0.0
        return rate_per_replica * self.seconds_per_image(self.batch_size(rate_per_replica))

    def capacity_per_replica(self) -> float:
        """Requests/s one replica serves flat out (full batches)."""
        return 1.0 / self.seconds_per_image(self.max_batch_size)


def reach_from_exits(exits_per_tier: Sequence[float]) -> tuple[float, ...]:
    """Fraction of requests reaching each tier from the exit counters (tier k answered
    exits[k]); reach[0] = 1. No requests yet: every tier reached (the safe assumption)."""
    total = float(sum(exits_per_tier))
    if total <= 0:
        return tuple(1.0 for _ in exits_per_tier)
    left, out = total, []
    for count in exits_per_tier:
        out.append(left / total)
        left -= count
    return tuple(out)


def replicas_for_rate(member: MemberLoadModel, rate_per_s: float, headroom: float) -> int:
    """Fewest replicas keeping each one at most 1/headroom busy at `rate_per_s`, in bounds."""
    if headroom < 1.0:
        raise ValueError(f"headroom must be >= 1, got {headroom}")
    if rate_per_s <= 0:
        return member.min_replicas
    target = 1.0 / headroom
    # Lower bound from full batches, then step up until the batches this rate forms fit.
    n = max(1, math.ceil(rate_per_s / member.capacity_per_replica() * headroom))
    while n < member.max_replicas and member.utilisation(rate_per_s / n) > target:
        n += 1
    return min(max(n, member.min_replicas), member.max_replicas)


def desired_replicas(
    arrival_rate_per_s: float,
    reach: Sequence[float],
    members: Sequence[MemberLoadModel],
    headroom: float = 1.4,
) -> dict[str, int]:
    """Replicas per member deployment: tier k gets arrival rate x reach[k]."""
    out = {}
    for member in members:
        fraction = reach[member.tier] if member.tier < len(reach) else 1.0
        out[member.deployment] = replicas_for_rate(
            member, arrival_rate_per_s * min(max(fraction, 0.0), 1.0), headroom
        )
    return out


@dataclass
class DelayState:
    """Since when each deployment has wanted more (or fewer) replicas than it has."""

    up_since: dict[str, float] = field(default_factory=dict)
    down_since: dict[str, float] = field(default_factory=dict)
    down_target: dict[str, int] = field(default_factory=dict)


def apply_delays(
    desired: Mapping[str, int],
    current: Mapping[str, int],
    now_s: float,
    state: DelayState,
    upscale_delay_s: float,
    downscale_delay_s: float,
) -> dict[str, int]:
    """Replica targets after Serve-style delays: a change is made once it has been wanted
    for its whole delay; a scale-down goes to the largest count wanted during the delay."""
    out = {}
    for name, want in desired.items():
        have = current.get(name, want)
        if want > have:
            state.down_since.pop(name, None)
            state.down_target.pop(name, None)
            since = state.up_since.setdefault(name, now_s)
            out[name] = want if now_s - since >= upscale_delay_s else have
            if out[name] == want:
                state.up_since.pop(name, None)
        elif want < have:
            state.up_since.pop(name, None)
            since = state.down_since.setdefault(name, now_s)
            target = max(want, state.down_target.get(name, want))
            state.down_target[name] = target
            if now_s - since >= downscale_delay_s:
                out[name] = target
                state.down_since.pop(name, None)
                state.down_target.pop(name, None)
            else:
                out[name] = have
        else:
            state.up_since.pop(name, None)
            state.down_since.pop(name, None)
            state.down_target.pop(name, None)
            out[name] = have
    return out


def queue_driven_replicas(
    ongoing_requests: float, target_ongoing_requests: float, current: int,
    min_replicas: int, max_replicas: int,
) -> int:
    """Serve's default rule (a model of it): replicas = ongoing requests / target per
    replica, within bounds. It reacts to queues, so it lags a rise in escalation."""
    if target_ongoing_requests <= 0:
        raise ValueError("target_ongoing_requests must be > 0")
    want = math.ceil(ongoing_requests / target_ongoing_requests) if ongoing_requests > 0 else 0
    return min(max(want, min_replicas), max_replicas)
