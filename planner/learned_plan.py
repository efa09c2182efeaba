"""Choose a learned-policy cascade on calibration: which tiers, which schedulers, thresholds.

The tier structures (members and GPU classes) come from the agreement and confidence
searches' Pareto sets: the learned family re-decides WHEN to exit, not what runs. For a few
promising structures the schedulers are trained (planner.learned_train) and the thresholds
set (planner.learned_budget); the objective then picks one, on calibration only:

- budget: the most accurate structure whose expected cost is B;
- match-best: the cheapest (structure, threshold offset) whose calibration accuracy reaches
  the single best's (with the same bootstrap rule as the other families when asked).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from planner.costs import CostTable
from planner.learned_budget import (
    BudgetFit,
    exit_fractions,
    learned_tiers,
    meet_budget,
    quantile_thresholds,
    shifted,
    sim_cost,
)
from planner.learned_train import TrainSettings, cascade_data, train_schedulers
from planner.robust import first_robust
from planner.search import SEARCH_REACH, Candidates
from planner.simulate import SimResult, TierSpec, simulate

MAX_STRUCTURES = 4
OFFSET_GRID = np.linspace(-8.0, 8.0, 65)


def candidate_cost(cands: Candidates, unit: str) -> np.ndarray:
    return cands.device_ms if unit == "device_ms" else cands.usd * 1000.0


def most_accurate_within(cands: Candidates, budget: float | None, unit: str) -> int:
    """Index of the most accurate candidate costing at most `budget` (budget objective)."""
    if budget is None:
        raise ValueError("--budget: the budget objective needs a budget")
    cost = candidate_cost(cands, unit)
    feasible = np.nonzero(cost <= budget + 1e-12)[0]
    if feasible.size == 0:
        raise ValueError(f"--budget: no cascade costs <= {budget} {unit} per image "
                         f"(cheapest is {float(cost.min()):.6g})")
    order = np.lexsort((cost[feasible], -cands.correct_count[feasible]))
    return int(feasible[order[0]])


def _key(tiers: Sequence[TierSpec]) -> tuple:
    return tuple((t.members, t.gpu_class) for t in tiers)


def structures(
    families: Mapping[str, Candidates], order_of: Callable[[Candidates], np.ndarray],
    limit: int = MAX_STRUCTURES,
) -> list[list[TierSpec]]:
    """Up to `limit` distinct multi-tier structures, best first per `order_of(cands)`
    (indices into that family's candidates), alternating between the families."""
    ranked = []
    for cands in families.values():
        deep = [int(k) for k in order_of(cands) if cands.structure[int(k), 0] >= 0]
        ranked.append([cands.tiers(k) for k in deep])
    seen, out = set(), []
    for position in range(max((len(r) for r in ranked), default=0)):
        for tiers in (r[position] for r in ranked if position < len(r)):
            if _key(tiers) not in seen and len(out) < limit:
                seen.add(_key(tiers))
                out.append(tiers)
    return out


def tier_costs(structure: Sequence[TierSpec], costs: CostTable, unit: str) -> list[float]:
    """Per-image cost of each tier at the reach the search assumes (training only)."""
    out = []
    for t, tier in enumerate(structure):
        reach = SEARCH_REACH[min(t, len(SEARCH_REACH) - 1)]
        if unit == "device_ms":
            out.append(costs.tier_ms(tier.members, tier.gpu_class, reach))
        else:
            out.append(costs.tier_usd(tier.members, tier.gpu_class, reach) * 1000.0)
    return out


@dataclass(frozen=True)
class TrainedStructure:
    structure: list[TierSpec]
    schedulers: list
    base: list[float]  # EENet quantile thresholds


def train_structure(
    structure: Sequence[TierSpec], probs: Mapping[str, np.ndarray], labels: np.ndarray,
    costs: CostTable, budget: float, unit: str, settings: TrainSettings | None = None,
) -> TrainedStructure:
    """Schedulers trained at budget B and their quantile thresholds."""
    data = cascade_data([t.members for t in structure], "mean", probs, labels)
    schedulers = train_schedulers(data, tier_costs(structure, costs, unit), budget, settings)
    base = quantile_thresholds(schedulers, data, exit_fractions(schedulers, data))
    return TrainedStructure(list(structure), schedulers, base)


def fit_budget(
    structure: Sequence[TierSpec], probs, labels, costs: CostTable, budget: float, unit: str,
    settings: TrainSettings | None = None,
) -> BudgetFit:
    trained = train_structure(structure, probs, labels, costs, budget, unit, settings)
    return meet_budget(trained.structure, trained.schedulers, trained.base, probs, labels,
                       costs, budget, unit)


def best_at_budget(
    families: Mapping[str, Candidates], probs, labels, costs: CostTable, budget: float,
    unit: str, settings: TrainSettings | None = None, progress: bool = False,
    limit: int = MAX_STRUCTURES,
) -> BudgetFit | None:
    """The most accurate learned cascade (on these images) costing B per image."""
    from tqdm import tqdm

    def near_budget(cands: Candidates) -> np.ndarray:
        cost = candidate_cost(cands, unit)
        near = np.nonzero((cost >= 0.5 * budget) & (cost <= 1.5 * budget))[0]
        if near.size == 0:
            near = np.argsort(np.abs(cost - budget))[:20]
        return near[np.argsort(-cands.correct_count[near], kind="stable")]

    fits = []
    options = structures(families, near_budget, limit)
    for structure in tqdm(options, desc=f"learned @ {budget:.4g}", disable=not progress,
                          leave=False):
        fit = fit_budget(structure, probs, labels, costs, budget, unit, settings)
        if fit.feasible:
            fits.append(fit)
    if not fits:
        return None
    return max(fits, key=lambda f: (f.sim.accuracy, -sim_cost(f.sim, unit)))


def frontier_points(
    trained: TrainedStructure, probs, labels, costs: CostTable,
    offsets: Sequence[float] = OFFSET_GRID,
) -> list[tuple[list[TierSpec], SimResult]]:
    """The trained structure at every threshold offset: its accuracy-cost curve."""
    out = []
    for offset in offsets:
        tiers = learned_tiers(trained.structure, trained.schedulers,
                              shifted(trained.base, float(offset)))
        out.append((tiers, simulate(tiers, probs, labels, costs)))
    return out


def choose_learned(
    calib, families: Mapping[str, Candidates], costs: CostTable, objective,
    min_correct: int, best_correct: np.ndarray, progress: bool = False,
    limit: int = MAX_STRUCTURES,
) -> list[TierSpec] | None:
    """The learned plan for `objective` (planner.plan.Objective), or None if none fits."""
    unit = objective.budget_unit
    if objective.name == "budget":
        fit = best_at_budget(families, calib.probs, calib.labels, costs, objective.budget_ms,
                             unit, progress=progress)
        return None if fit is None else fit.tiers
    if objective.name != "match-best":
        return None
    unit = "device_ms" if objective.cost_unit == "device_ms" else "usd_per_1k"

    def reaching(cands: Candidates) -> np.ndarray:
        ok = np.nonzero(cands.correct_count >= min_correct)[0]
        return ok[np.argsort(candidate_cost(cands, unit)[ok], kind="stable")]

    points: list[tuple[list[TierSpec], SimResult]] = []
    for structure in structures(families, reaching, limit):
        anchor = simulate(structure, calib.probs, calib.labels, costs)
        trained = train_structure(structure, calib.probs, calib.labels, costs,
                                  sim_cost(anchor, unit), unit)
        points += frontier_points(trained, calib.probs, calib.labels, costs)
    feasible = [i for i, (_, sim) in enumerate(points) if int(sim.correct.sum()) >= min_correct]
    if not feasible:
        return None
    order = sorted(feasible, key=lambda i: sim_cost(points[i][1], unit))
    if objective.selection == "bootstrap":
        k = first_robust(order, lambda i: points[i][1].correct, best_correct,
                         objective.confidence, tolerance=-objective.accuracy_margin)
        return None if k is None else points[k][0]
    return points[order[0]][0]
