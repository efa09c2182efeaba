"""Replay a cascade offline on cached member probabilities, exactly as the router runs it.

Tier by tier, the still-undecided images go through `cascade.policies.decide_tier` (the
function the live router calls); every member of a tier is paid for every image that reaches
the tier; the last tier always answers. The result is what the server will do on those images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cascade.config import CascadeConfig
from cascade.learned import Scheduler, TierFeatures
from cascade.policies import CombineName, ExitPolicyName, decide_tier, decision_features
from planner.costs import CostTable


@dataclass(frozen=True)
class TierSpec:
    """The planner's light view of a tier: who votes, how, and where it runs."""

    members: tuple[str, ...]
    policy: ExitPolicyName
    threshold: float
    combine: CombineName
    gpu_class: str
    scheduler: Scheduler | None = None  # learned policy only


@dataclass(frozen=True)
class SimResult:
    """Per-example outcome and the aggregate figures of one cascade on one split."""

    exit_tier: np.ndarray  # (n,) int: index of the tier that answered
    predictions: np.ndarray  # (n,) int64
    correct: np.ndarray  # (n,) bool
    accuracy: float
    expected_device_ms: float  # per image, emulated or measured device time summed over tiers
    expected_usd: float  # per image
    expected_mflops: float  # per image
    worst_case_device_ms: float  # an image that reaches every tier
    worst_case_usd: float
    exit_distribution: tuple[float, ...]  # fraction of images answered by each tier
    tier_device_ms: tuple[float, ...]  # cost of one image passing through each tier
    tier_reach: tuple[float, ...] = ()  # fraction of images that reach each tier

    @property
    def usd_per_1k(self) -> float:
        return self.expected_usd * 1000.0


def tiers_from_config(config: CascadeConfig) -> list[TierSpec]:
    """Members are keyed by their model spec (the key of the prediction cache)."""
    return [
        TierSpec(
            members=tuple(m.model for m in tier.members),
            policy=tier.exit_policy.kind,
            threshold=float(tier.exit_policy.threshold),
            combine=tier.combine,
            gpu_class=tier.gpu_class,
            scheduler=tier.exit_policy.scheduler.build() if tier.exit_policy.scheduler else None,
        )
        for tier in config.tiers
    ]


def _scatter(features: TierFeatures, rows: np.ndarray, n: int) -> TierFeatures:
    """Features of the `rows` images placed in an n-image array (the rest stay zero)."""
    values = np.zeros((n, features.values.shape[1]))
    labels = np.full(n, -1, dtype=np.int64)
    values[rows], labels[rows] = features.values, features.labels
    return TierFeatures(values, labels)


def simulate(
    tiers: Sequence[TierSpec],
    probs: Mapping[str, np.ndarray],
    labels: np.ndarray,
    costs: CostTable,
) -> SimResult:
    """Run the cascade over every example; `probs[member]` is (n, classes) softmax."""
    if not tiers:
        raise ValueError("a cascade needs at least one tier")
    labels = np.asarray(labels)
    n = labels.shape[0]
    exit_tier = np.full(n, -1, dtype=np.int64)
    predictions = np.full(n, -1, dtype=np.int64)
    undecided = np.arange(n)
    total_ms = total_usd = total_mflops = 0.0
    tier_ms: list[float] = []
    tier_usd: list[float] = []
    reach: list[float] = []
    history: list[TierFeatures] = []  # every earlier tier's features, for all n images
    learned_after = [any(t.policy == "learned" for t in tiers[i + 1:]) for i in range(len(tiers))]
    for index, tier in enumerate(tiers):
        missing = [m for m in tier.members if m not in probs]
        if missing:
            raise KeyError(f"tier {index}: no predictions for member(s) {', '.join(missing)}")
        # Costs at the batch sizes this tier's share of the traffic produces.
        fraction = undecided.size / max(n, 1)
        reach.append(fraction)
        one_ms = costs.tier_ms(tier.members, tier.gpu_class, max(fraction, 1e-3))
        one_usd = costs.tier_usd(tier.members, tier.gpu_class, max(fraction, 1e-3))
        tier_ms.append(one_ms)
        tier_usd.append(one_usd)
        if undecided.size == 0:
            continue
        reached = undecided.size
        total_ms += reached * one_ms
        total_usd += reached * one_usd
        total_mflops += reached * costs.tier_mflops(tier.members)
        stack = np.stack([np.asarray(probs[m])[undecided] for m in tier.members])
        decision = decide_tier(
            stack, tier.policy, tier.threshold, tier.combine, scheduler=tier.scheduler,
            history=[h.take(undecided) for h in history],
        )
        if learned_after[index]:
            history.append(_scatter(decision_features(stack, decision), undecided, n))
        is_last = index == len(tiers) - 1
        exits = np.ones(reached, dtype=bool) if is_last else decision.exits
        done = undecided[exits]
        exit_tier[done] = index
        predictions[done] = decision.labels[exits]
        undecided = undecided[~exits]
    correct = predictions == labels
    distribution = tuple(float((exit_tier == i).sum()) / max(n, 1) for i in range(len(tiers)))
    worst_ms = sum(tier_ms)
    worst_usd = sum(tier_usd)
    denom = max(n, 1)
    return SimResult(
        exit_tier=exit_tier,
        predictions=predictions,
        correct=correct,
        accuracy=float(correct.mean()) if n else 0.0,
        expected_device_ms=total_ms / denom,
        expected_usd=total_usd / denom,
        expected_mflops=total_mflops / denom,
        worst_case_device_ms=worst_ms,
        worst_case_usd=worst_usd,
        exit_distribution=distribution,
        tier_device_ms=tuple(tier_ms),
        tier_reach=tuple(reach),
    )
