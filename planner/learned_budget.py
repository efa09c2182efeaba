"""Per-tier thresholds of a learned cascade so that its expected cost per image is B.

Two steps, on the calibration split only:
1. EENet's quantile assignment: the trained exit distribution says what fraction of images
   should leave at each tier; tier by tier, the threshold is the score quantile of the
   images still there that lets exactly that fraction out.
2. Exact budget match: every threshold is moved by the same offset in logits (the knob the
   online budget keeper turns too) and the offset is bisected until `planner.simulate`
   (the router's own policy code, priced at the plan's rate) costs B per image.
   Raising thresholds only sends more images on, so cost is monotone in the offset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from cascade.learned import Scheduler, logit, shifted_threshold, sigmoid
from planner.costs import CostTable
from planner.learned_train import CascadeData, exit_probabilities
from planner.simulate import SimResult, TierSpec, simulate

MAX_LOGIT = 30.0  # thresholds stay inside (sigmoid(-30), sigmoid(30)) so offsets move them


def sim_cost(sim: SimResult, unit: str) -> float:
    """Expected cost per image in the budget's unit."""
    if unit == "device_ms":
        return sim.expected_device_ms
    if unit == "usd_per_1k":
        return sim.usd_per_1k
    raise ValueError(f"unit: unknown budget unit {unit!r}; use device_ms or usd_per_1k")


def exit_fractions(schedulers: Sequence[Scheduler], data: CascadeData) -> list[float]:
    """Mean exit probability per tier under the trained (soft) scores."""
    scores = [1.0 / (1.0 + np.exp(-s.logits(x))) for s, x in zip(schedulers, data.inputs,
                                                                 strict=True)]
    _, exits = exit_probabilities(scores, len(scores) + 1)
    return [float(np.mean(e)) for e in exits]


def quantile_thresholds(
    schedulers: Sequence[Scheduler], data: CascadeData, fractions: Sequence[float]
) -> list[float]:
    """EENet's assignment: tier t lets out fractions[t] of ALL images, taken among the ones
    still there with the highest scores. Returns probability thresholds, one per non-last
    tier."""
    n = data.inputs[0].shape[0] if data.inputs else 0
    still = np.ones(n, dtype=bool)
    thresholds = []
    for t, scheduler in enumerate(schedulers):
        z = scheduler.logits(data.inputs[t])
        count = int(round(fractions[t] * n))
        alive = np.sort(z[still])[::-1]
        count = min(count, alive.size)
        above_all = (alive[0] + 1.0) if alive.size else MAX_LOGIT
        cut = alive[count - 1] if count > 0 else above_all
        cut = float(np.clip(cut, -MAX_LOGIT, MAX_LOGIT))
        thresholds.append(threshold_at(cut))
        still &= ~(z >= logit(thresholds[-1]))
    return thresholds


def threshold_at(cut: float) -> float:
    """The largest probability threshold whose logit does not exceed `cut`, so that an
    image scoring exactly `cut` exits (sigmoid/logit round trips can land a hair above)."""
    threshold = sigmoid(cut)
    while logit(threshold) > cut:
        threshold = float(np.nextafter(threshold, 0.0))
    return threshold


def learned_tiers(
    structure: Sequence[TierSpec], schedulers: Sequence[Scheduler], thresholds: Sequence[float],
) -> list[TierSpec]:
    """`structure`'s members and classes with the learned policy; the last always answers."""
    out = []
    for t, tier in enumerate(structure):
        last = t == len(structure) - 1
        out.append(replace(
            tier, policy="learned", combine="mean",
            threshold=0.0 if last else float(thresholds[t]),
            scheduler=None if last else schedulers[t],
        ))
    return out


def shifted(thresholds: Sequence[float], offset: float) -> list[float]:
    return [shifted_threshold(t, offset) for t in thresholds]


@dataclass(frozen=True)
class BudgetFit:
    tiers: list[TierSpec]
    offset: float  # logits added to every quantile threshold
    sim: SimResult  # on the split the fit used (calibration)
    feasible: bool  # False: B is below what tier 0 alone costs, or above every tier's sum


def meet_budget(
    structure: Sequence[TierSpec], schedulers: Sequence[Scheduler], base: Sequence[float],
    probs: Mapping[str, np.ndarray], labels: np.ndarray, costs: CostTable,
    budget: float, unit: str, iterations: int = 40, span: float = 2 * MAX_LOGIT,
) -> BudgetFit:
    """Bisect one logit offset on all thresholds until the simulated cost is `budget`."""

    def run(offset: float) -> tuple[list[TierSpec], SimResult]:
        tiers = learned_tiers(structure, schedulers, shifted(base, offset))
        return tiers, simulate(tiers, probs, labels, costs)

    lo, hi = -span, span
    tiers_lo, sim_lo = run(lo)
    if sim_cost(sim_lo, unit) > budget:
        return BudgetFit(tiers_lo, lo, sim_lo, False)
    tiers_hi, sim_hi = run(hi)
    if sim_cost(sim_hi, unit) < budget:
        return BudgetFit(tiers_hi, hi, sim_hi, False)
    best = (lo, tiers_lo, sim_lo)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        tiers, sim = run(mid)
        if sim_cost(sim, unit) <= budget:
            lo, best = mid, (mid, tiers, sim)
        else:
            hi = mid
    offset, tiers, sim = best
    return BudgetFit(tiers, offset, sim, True)
