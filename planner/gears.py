"""Plan load gears for a cascade: Pareto exit thresholds over the same models, with load ranges.

Each candidate threshold set is replayed on cached predictions (`planner.simulate`, the
router's exit-policy code); the candidates that no other beats on both accuracy and reach
(escalation, hence capacity) form the gears, ordered from the most accurate to the cheapest.
A gear's load range ends at the highest ingress rate whose replicas, sized by
`cascade.autoscale_policy.desired_replicas` for the gear's reach, stay within a capacity
budget (GPU share x price summed over replicas): above it the next (cheaper) gear must take
over to hold the SLO without more GPUs.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from cascade.autoscale_policy import MemberLoadModel, desired_replicas
from cascade.gears import Gear, GearSet
from planner.costs import CostTable
from planner.frontier import pareto_mask
from planner.simulate import TierSpec, simulate


def threshold_levels(tier: TierSpec, confidence_levels: int = 6) -> list[float]:
    """Exit thresholds worth trying for one tier: every agreement level of its members, or
    a confidence grid."""
    if tier.policy == "agreement":
        m = len(tier.members)
        return sorted({round(j / m, 6) for j in range(1, m + 1)} | {tier.threshold})
    grid = np.linspace(0.5, 0.99, confidence_levels)
    return sorted({round(float(x), 4) for x in grid} | {tier.threshold})


def max_rate_within(members: Sequence[MemberLoadModel], reach: Sequence[float],
                    headroom: float, weights: Mapping[str, float], budget: float,
                    hi: float = 1e7) -> float:
    """Highest ingress rate whose sized replicas, weighted (e.g. GPU share x $/s), stay
    within `budget`."""
    unbounded = [replace(m, max_replicas=10**9) for m in members]

    def fits(rate: float) -> bool:
        need = desired_replicas(rate, reach, unbounded, headroom)
        return sum(n * weights[k] for k, n in need.items()) <= budget * (1 + 1e-9)

    lo = 0.0
    if fits(hi):
        return hi
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


TOP_GEARS = ("plan", "most_accurate")


def escalation_ceiling(top_gear: str, tiers: Sequence[TierSpec],
                       probs: Mapping[str, np.ndarray], labels: np.ndarray,
                       costs: CostTable) -> float | None:
    """`plan_gears`' max_escalation for a top-gear choice: 'plan' caps the gears at the
    configured thresholds' escalation (sum of the upper tiers' reach on this split);
    'most_accurate' keeps every Pareto gear."""
    if top_gear not in TOP_GEARS:
        raise ValueError(f"top gear {top_gear!r}: expected one of {', '.join(TOP_GEARS)}")
    if top_gear == "most_accurate":
        return None
    return float(sum(simulate(list(tiers), probs, labels, costs).tier_reach[1:]))


def plan_gears(
    tiers: Sequence[TierSpec],
    probs: Mapping[str, np.ndarray],
    labels: np.ndarray,
    costs: CostTable,
    members: Sequence[MemberLoadModel],
    weights: Mapping[str, float],
    budget: float,
    headroom: float = 1.4,
    hysteresis: float = 0.15,
    max_escalation: float | None = None,
) -> GearSet:
    """Ordered Pareto gears (most accurate first) and the load each serves within the
    budget: sum over members of replicas x weight (GPU share x $/s) <= budget.

    `max_escalation` (sum of the upper tiers' reach) drops the candidates that escalate
    more: with the deployed plan's escalation, the top gear is the plan (or one at least as
    accurate on this split that escalates no more), so gears only ever trade accuracy for
    capacity under load, never spend more than the plan at low load."""
    options = [threshold_levels(t) for t in tiers[:-1]]
    rows = []
    for combo in itertools.product(*options):
        variant = [replace(t, threshold=combo[i]) if i < len(combo) else t
                   for i, t in enumerate(tiers)]
        result = simulate(variant, probs, labels, costs)
        rows.append((combo, result.accuracy, result.tier_reach, result.expected_device_ms))
    escalation = np.array([sum(r[2][1:]) for r in rows])
    accuracy = np.array([r[1] for r in rows])
    keep = [i for i in np.flatnonzero(pareto_mask(escalation, accuracy))
            if max_escalation is None or escalation[i] <= max_escalation + 1e-9]
    keep.sort(key=lambda i: (-accuracy[i], escalation[i]))
    gears, last_rate = [], 0.0
    for i in keep:
        combo, acc, reach, _ = rows[i]
        rate = max_rate_within(members, reach, headroom, weights, budget)
        if rate <= last_rate * (1 + 1e-6) and gears:
            continue  # serves no load the previous gear could not
        gears.append(Gear(name=f"gear{len(gears)}", thresholds=list(combo),
                          max_rate_per_s=max(rate, 1e-6), expected_reach=list(reach),
                          accuracy=float(acc)))
        last_rate = rate
    return GearSet(gears=gears, hysteresis=hysteresis)
