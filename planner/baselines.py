"""What a cascade is compared against: single models, full ensembles, and the oracle.

Single models and full ensembles are 1-tier cascades run through the same simulator (so they
are priced exactly like a plan), each on the class `place` gives it (its cheapest class when
the plan chooses classes: the same footing). The oracle is a bound, not a
deployable system: an image counts as right if ANY pool member is right, and costs the
cheapest member that is right on it (the cheapest member overall when none is).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from planner.costs import CostTable
from planner.simulate import SimResult, TierSpec, simulate


def single_tier(members: Sequence[str], combine: str, gpu_class: str) -> list[TierSpec]:
    return [TierSpec(tuple(members), "agreement", 0.0, combine, gpu_class)]


Placement = Callable[[Sequence[str]], str]


def single_models(
    probs: Mapping[str, np.ndarray], labels: np.ndarray, pool: Sequence[str],
    costs: CostTable, place: Placement,
) -> dict[str, SimResult]:
    return {
        m: simulate(single_tier([m], "vote", place((m,))), probs, labels, costs) for m in pool
    }


def full_ensembles(
    probs: Mapping[str, np.ndarray], labels: np.ndarray, pool: Sequence[str],
    costs: CostTable, place: Placement,
) -> dict[str, SimResult]:
    """All pool members in one tier: plurality vote and mean probability."""
    gpu = place(tuple(pool))
    return {
        f"ensemble-{rule}": simulate(single_tier(pool, rule, gpu), probs, labels, costs)
        for rule in ("vote", "mean")
    }


@dataclass(frozen=True)
class OracleResult:
    accuracy: float
    expected_device_ms: float
    expected_usd: float


def oracle(
    probs: Mapping[str, np.ndarray], labels: np.ndarray, pool: Sequence[str],
    costs: CostTable, gpu_class: str,
) -> OracleResult:
    """Upper bound on accuracy with the cheapest possible routing (see module docstring)."""
    ms = np.array([costs.member_ms(m, gpu_class) for m in pool])
    usd = np.array([costs.member_usd(m, gpu_class) for m in pool])
    right = np.stack([np.asarray(probs[m]).argmax(axis=1) == labels for m in pool])  # (m, n)
    any_right = right.any(axis=0)
    masked = np.where(right, ms[:, None], np.inf)
    cheapest = masked.argmin(axis=0)
    fallback = int(ms.argmin())
    pick = np.where(any_right, cheapest, fallback)
    return OracleResult(
        accuracy=float(any_right.mean()),
        expected_device_ms=float(ms[pick].mean()),
        expected_usd=float(usd[pick].mean()),
    )
