"""Ray Serve application-level autoscaling policy: the escalation-aware sizing, live.

Ray Serve (2.51+) calls an application-level policy with every deployment's
`AutoscalingContext` and applies min/max and the up/down delays itself. The ingress
replicas report cumulative counters through `record_autoscaling_stats`
(`ingress_autoscaling_stats`): images answered, exits per tier and images refused. Over a
sliding window (`rate_window_s`, three metric pushes: `cascade.autoscaling.policy_timing`)
the policy turns their increase into the arrival rate and the reach of every tier, and
sizes each member with `cascade.autoscale_policy.desired_replicas`, the function the
simulator calls. Deploy with `autoscaling_policy: {policy_function:
serve_app.autoscale_policy:EscalationAwareAppPolicy, policy_kwargs: {...}}` in a Serve
config (`coe plan --gears ... --serve-config` writes one). No Ray import: contexts are
only read.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from cascade.autoscale_policy import MemberLoadModel, desired_replicas, reach_from_exits

IMAGES_METRIC = "coe_images_total"
REFUSED_METRIC = "coe_images_refused_total"  # turned away at the ingress's image door
EXITS_METRIC = "coe_exits_tier"  # + tier index


def ingress_autoscaling_stats(images: int, exits_per_tier: list[int],
                              refused_images: int = 0) -> dict[str, float]:
    """What an ingress replica reports to Serve's controller (cumulative counters)."""
    out = {IMAGES_METRIC: float(images), REFUSED_METRIC: float(refused_images)}
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
                 min_interval_s: float = 5.0, rate_window_s: float = 20.0):
        self.members = [MemberLoadModel(**{**m, "call_seconds": tuple(m["call_seconds"])})
                        for m in members]
        self.tiers = tiers
        self.ingress = ingress_deployment
        self.headroom = headroom
        self.min_interval_s = min_interval_s
        self.rate_window_s = rate_window_s
        self.samples: deque[tuple[float, float, list[float], float]] = deque()
        self.last_decision: dict[str, int] = {}

    def observe(self, now_s: float, images: float, exits: list[float],
                refused: float = 0.0) -> tuple[float, list, float] | None:
        """Answer rate, per-tier exits and images refused at the door over the last
        `rate_window_s`; None until the samples span that long. The ingress pushes its
        counters every `INGRESS_METRICS_INTERVAL_S`, so the counter Serve hands over moves
        in steps: a rate taken over less than two pushes alternated between a step and no
        step (measured live with 10-s pushes and a 5-s rate: 42 and 6 req/s at a steady
        load), the decision flipped every call, and Serve's upscale delay never elapsed.
        Three pushes are steady."""
        self.samples.append((now_s, images, exits, refused))
        while len(self.samples) > 1 and self.samples[1][0] <= now_s - self.rate_window_s:
            self.samples.popleft()
        start_s, images_then, exits_then, refused_then = self.samples[0]
        span = now_s - start_s
        if span < self.rate_window_s:
            return None
        rate = max(0.0, images - images_then) / span
        delta = [max(0.0, a - b) for a, b in zip(exits, exits_then, strict=False)]
        return rate, delta, max(0.0, refused - refused_then)

    def __call__(self, contexts: dict) -> tuple[dict, dict]:
        by_name = {ctx.deployment_name: (dep_id, ctx) for dep_id, ctx in contexts.items()}
        if self.ingress not in by_name:
            return {}, {}
        _, ingress = by_name[self.ingress]
        now = ingress.current_time if ingress.current_time is not None else time.time()
        if not self.samples or now - self.samples[-1][0] >= self.min_interval_s:
            metrics = ingress.aggregated_metrics
            images = _summed(metrics, IMAGES_METRIC)
            exits = [_summed(metrics, f"{EXITS_METRIC}{k}") for k in range(self.tiers)]
            observed = self.observe(now, images, exits, _summed(metrics, REFUSED_METRIC))
            if observed is not None:  # else: keep the last decision until the window fills
                rate, delta, refused = observed
                wanted = desired_replicas(rate, reach_from_exits(delta), self.members,
                                          self.headroom)
                if refused > 0:  # shedding: the answer rate is capacity, not demand
                    wanted = {name: max(n, self.last_decision.get(name, n))
                              for name, n in wanted.items()}
                self.last_decision = wanted
        out = {by_name[name][0]: n for name, n in self.last_decision.items() if name in by_name}
        return out, {}
