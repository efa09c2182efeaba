"""Ray Serve application-level autoscaling policy: the escalation-aware sizing, live.

Ray Serve (2.51+) calls an application-level policy with every deployment's
`AutoscalingContext` and applies min/max and the up/down delays itself. The ingress
replicas report cumulative counters through `record_autoscaling_stats`
(`ingress_autoscaling_stats`): images answered and exits per tier. Between two calls the
policy turns their increase into the arrival rate and the reach of every tier, and sizes
each member with `cascade.autoscale_policy.desired_replicas`, the function the simulator
calls. Deploy with `autoscaling_policy: {policy_function:
serve_app.autoscale_policy:EscalationAwareAppPolicy, policy_kwargs: {...}}` in a Serve
config (`coe autoscale serve-config` writes one). No Ray import: the contexts are only read.
"""

from __future__ import annotations

import time
from typing import Any

from cascade.autoscale_policy import MemberLoadModel, desired_replicas, reach_from_exits

IMAGES_METRIC = "coe_images_total"
EXITS_METRIC = "coe_exits_tier"  # + tier index


def ingress_autoscaling_stats(images: int, exits_per_tier: list[int]) -> dict[str, float]:
    """What an ingress replica reports to Serve's controller (cumulative counters)."""
    out = {IMAGES_METRIC: float(images)}
    for index, count in enumerate(exits_per_tier):
        out[f"{EXITS_METRIC}{index}"] = float(count)
    return out


def _summed(metrics: dict | None, name: str) -> float:
    """A counter summed over the replicas that report it."""
    by_replica = (metrics or {}).get(name) or {}
    return float(sum(by_replica.values()))


class EscalationAwareAppPolicy:
    """Callable Serve instantiates once with `policy_kwargs`; called every control tick."""

    def __init__(self, members: list[dict[str, Any]], tiers: int,
                 ingress_deployment: str = "CascadeIngress", headroom: float = 1.4,
                 min_interval_s: float = 5.0, stale_after_s: float = 30.0):
        self.members = [MemberLoadModel(**{**m, "call_seconds": tuple(m["call_seconds"])})
                        for m in members]
        self.tiers = tiers
        self.ingress = ingress_deployment
        self.headroom = headroom
        self.min_interval_s = min_interval_s
        self.stale_after_s = stale_after_s
        self.last: dict[str, Any] | None = None
        self.last_decision: dict[str, int] = {}

    def observe(self, now_s: float, images: float, exits: list[float]) -> tuple[float, list] | None:
        """Arrival rate and per-tier exits since the previous observation; None when the
        counters have not moved yet and are not stale: replicas report every
        `metrics_interval_s` (10 s by default), so a call between two reports must not read
        as a zero rate (that flipped the decision between up and down every other call, and
        Serve's upscale delay, which needs consecutive up decisions, never elapsed)."""
        if self.last is None or now_s <= self.last["t"]:
            self.last = {"t": now_s, "images": images, "exits": exits}
            return 0.0, []
        unchanged = images == self.last["images"] and exits == self.last["exits"]
        if unchanged and now_s - self.last["t"] < self.stale_after_s:
            return None
        elapsed = now_s - self.last["t"]
        rate = max(0.0, images - self.last["images"]) / elapsed
        delta = [max(0.0, a - b) for a, b in zip(exits, self.last["exits"], strict=False)]
        self.last = {"t": now_s, "images": images, "exits": exits}
        return rate, delta

    def __call__(self, contexts: dict) -> tuple[dict, dict]:
        by_name = {ctx.deployment_name: (dep_id, ctx) for dep_id, ctx in contexts.items()}
        if self.ingress not in by_name:
            return {}, {}
        _, ingress = by_name[self.ingress]
        now = ingress.current_time if ingress.current_time is not None else time.time()
        if self.last is not None and now - self.last["t"] < self.min_interval_s:
            decisions = self.last_decision
        else:
            metrics = ingress.aggregated_metrics
            images = _summed(metrics, IMAGES_METRIC)
            exits = [_summed(metrics, f"{EXITS_METRIC}{k}") for k in range(self.tiers)]
            observed = self.observe(now, images, exits)
            if observed is None:  # no new report since the last decision: keep it
                decisions = self.last_decision
            else:
                rate, delta = observed
                if not delta:
                    return {}, {}
                reach = reach_from_exits(delta)
                decisions = desired_replicas(rate, reach, self.members, self.headroom)
                self.last_decision = decisions
        out = {by_name[name][0]: n for name, n in decisions.items() if name in by_name}
        return out, {}
