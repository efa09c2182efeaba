"""From cached predictions to a chosen cascade: select on calibration, report on test.

The split discipline is structural: `choose` receives only the calibration predictions; the
test split is touched only by `evaluate`, after the choice is fixed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from planner.baselines import full_ensembles, oracle, single_models
from planner.costs import CostTable, cheapest_class, gpu_for_tier
from planner.frontier import cheapest_reaching
from planner.robust import DEFAULT_CONFIDENCE, first_robust
from planner.search import Candidates, SearchSpace, reduce_pool, search_cascades, select
from planner.simulate import SimResult, TierSpec, simulate

FAMILIES = ("agreement", "confidence")  # searched exhaustively
ALL_FAMILIES = (*FAMILIES, "learned")  # learned: trained on the searched structures


@dataclass(frozen=True)
class PredSet:
    """Cached member probabilities on one split, with its labels."""

    probs: Mapping[str, np.ndarray]
    labels: np.ndarray


@dataclass(frozen=True)
class Objective:
    name: str = "match-best"  # or max-accuracy, or budget (expected cost = B)
    budget_ms: float | None = None  # max-accuracy (device-ms); budget: B in `budget_unit`
    budget_unit: str = "device_ms"  # budget objective: device_ms or usd_per_1k
    max_worst_case_ms: float | None = None
    cost_unit: str = "usd"  # what "least cost" minimises: usd or device_ms
    policy: str = "agreement"  # family the plan is chosen from: agreement, confidence, any
    accuracy_margin: float = 0.0  # match-best: beat the best single model by this (fraction)
    slo_p99_ms: float | None = None  # predicted latency of an image through every tier
    selection: str = "bootstrap"  # match-best: "bootstrap" lower bound, or "point" count
    confidence: float = DEFAULT_CONFIDENCE  # of the bootstrap lower bound


@dataclass
class Choice:
    """Everything decided on calibration; nothing here has seen the test split."""

    pool: list[str]
    searched_pool: list[str]
    tiers: list[TierSpec]
    family: str
    single_best: str
    single_best_gpu: str  # the class where the single best is cheapest (within the SLO)
    calib: SimResult
    calib_singles: dict[str, SimResult]
    calib_ensembles: dict[str, SimResult]
    families: dict[str, Candidates]
    family_choice: dict[str, list[TierSpec] | None] = field(default_factory=dict)
    family_calib: dict[str, SimResult] = field(default_factory=dict)


def placement(
    costs: CostTable, tiers_gpu: Sequence[str], space: SearchSpace
) -> Callable[[Sequence[str]], str]:
    """Where a one-tier baseline runs: on its cheapest class (within the SLO) when the plan
    chooses classes, so it is compared on the same footing; else on tier 0's class."""
    if space.choose_classes:
        return lambda members: cheapest_class(costs, members, tiers_gpu, 1.0, space.slo_p99_ms)
    first = gpu_for_tier(tiers_gpu, 0)
    return lambda members: first


def on_class(tiers: Sequence[TierSpec], gpu_class: str) -> list[TierSpec]:
    """The same cascade with every tier on one class (the same-class comparison)."""
    return [dataclasses.replace(t, gpu_class=gpu_class) for t in tiers]


def _robust_pick(
    cands: Candidates, objective: Objective, min_correct: int, calib: PredSet,
    costs: CostTable, best_correct: np.ndarray,
) -> int | None:
    """Cheapest point-feasible candidate whose paired bootstrap bound vs the single best
    clears the margin (see planner.robust)."""
    cost = cands.usd if objective.cost_unit == "usd" else cands.device_ms
    feasible = np.nonzero(cands.correct_count >= min_correct)[0]
    order = feasible[np.argsort(cost[feasible], kind="stable")]

    def correct_of(k: int) -> np.ndarray:
        return simulate(cands.tiers(k), calib.probs, calib.labels, costs).correct

    return first_robust(order, correct_of, best_correct, objective.confidence,
                        tolerance=-objective.accuracy_margin)


def _pick(cands: Candidates, objective: Objective, min_correct: int) -> int:
    if objective.name == "budget":
        from planner.learned_plan import most_accurate_within

        return most_accurate_within(cands, objective.budget_ms, objective.budget_unit)
    return select(
        cands, objective.name, min_correct=min_correct, budget_ms=objective.budget_ms,
        cost_unit=objective.cost_unit,
    )


def choose(
    calib: PredSet,
    pool: Sequence[str],
    costs: CostTable,
    tiers_gpu: Sequence[str],
    objective: Objective,
    space: SearchSpace | None = None,
    progress: bool = True,
) -> Choice:
    """Search both policy families on calibration and pick the plan per the objective."""
    space = space or SearchSpace()
    space = dataclasses.replace(
        space, max_worst_case_ms=objective.max_worst_case_ms, slo_p99_ms=objective.slo_p99_ms
    )
    place = placement(costs, tiers_gpu, space)
    singles = single_models(calib.probs, calib.labels, pool, costs, place)
    single_best = max(pool, key=lambda m: (singles[m].accuracy, -singles[m].expected_usd))
    n = int(np.asarray(calib.labels).shape[0])
    margin = int(np.ceil(objective.accuracy_margin * n))
    min_correct = int(singles[single_best].correct.sum()) + margin
    searched = reduce_pool(
        pool,
        {m: singles[m].accuracy for m in pool},
        {m: singles[m].expected_device_ms for m in pool},
        space.max_exhaustive_pool,
    )
    families: dict[str, Candidates] = {}
    picks: dict[str, list[TierSpec] | None] = {}
    for family in FAMILIES:
        cands = search_cascades(
            calib.probs, calib.labels, searched, costs, tiers_gpu, family, space, progress
        )
        families[family] = cands
        try:
            k = _pick(cands, objective, min_correct)
            if objective.name == "match-best" and objective.selection == "bootstrap":
                k = _robust_pick(cands, objective, min_correct, calib, costs,
                                 singles[single_best].correct)
            picks[family] = None if k is None else cands.tiers(k)
        except ValueError:
            picks[family] = None
    if objective.policy in ("learned", "any"):
        from planner.learned_plan import choose_learned

        picks["learned"] = choose_learned(calib, families, costs, objective, min_correct,
                                          singles[single_best].correct, progress)
    wanted = ALL_FAMILIES if objective.policy == "any" else (objective.policy,)
    feasible = [f for f in wanted if picks[f] is not None]
    if not feasible:
        if wanted == ("learned",):
            raise ValueError(f"--policy learned: no learned cascade meets --objective "
                             f"{objective.name} on calibration")
        # Re-raise the selection error of the requested family, naming the constraint.
        _pick(families[wanted[0]], objective, min_correct)
    sims = {f: simulate(picks[f], calib.probs, calib.labels, costs) for f in feasible}
    if objective.name == "match-best":
        key = "expected_usd" if objective.cost_unit == "usd" else "expected_device_ms"
        family = min(feasible, key=lambda f: getattr(sims[f], key))
    else:
        family = max(feasible, key=lambda f: sims[f].accuracy)
    return Choice(
        pool=list(pool),
        searched_pool=searched,
        tiers=picks[family],
        family=family,
        single_best=single_best,
        single_best_gpu=place((single_best,)),
        calib=sims[family],
        calib_singles=singles,
        calib_ensembles=full_ensembles(calib.probs, calib.labels, pool, costs, place),
        families=families,
        family_choice=picks,
        family_calib=sims,
    )


@dataclass
class Evaluation:
    """The chosen plan and every baseline, measured on the test split."""

    chosen: SimResult
    singles: dict[str, SimResult]
    ensembles: dict[str, SimResult]
    family_plans: dict[str, SimResult | None]
    oracle_accuracy: float
    oracle_device_ms: float
    oracle_usd: float
    chosen_same_class: SimResult | None = None  # every tier on the single best's class


def evaluate(
    choice: Choice, test: PredSet, costs: CostTable, tiers_gpu: Sequence[str],
    space: SearchSpace | None = None,
) -> Evaluation:
    place = placement(costs, tiers_gpu, space or SearchSpace())
    bound = oracle(test.probs, test.labels, choice.pool, costs, place((choice.pool[0],)))
    same = on_class(choice.tiers, choice.single_best_gpu)
    return Evaluation(
        chosen=simulate(choice.tiers, test.probs, test.labels, costs),
        chosen_same_class=simulate(same, test.probs, test.labels, costs),
        singles=single_models(test.probs, test.labels, choice.pool, costs, place),
        ensembles=full_ensembles(test.probs, test.labels, choice.pool, costs, place),
        family_plans={
            f: simulate(t, test.probs, test.labels, costs) if t is not None else None
            for f, t in choice.family_choice.items()
        },
        oracle_accuracy=bound.accuracy,
        oracle_device_ms=bound.expected_device_ms,
        oracle_usd=bound.expected_usd,
    )


def run_plan(
    calib: PredSet,
    test: PredSet,
    pool: Sequence[str],
    costs: CostTable,
    tiers_gpu: Sequence[str],
    objective: Objective,
    space: SearchSpace | None = None,
    progress: bool = True,
) -> tuple[Choice, Evaluation]:
    """Choose on calibration first; only then read the test split."""
    choice = choose(calib, pool, costs, tiers_gpu, objective, space, progress)
    return choice, evaluate(choice, test, costs, tiers_gpu, space)


def equal_accuracy_comparison(choice: Choice, cost_unit: str = "usd") -> dict:
    """On calibration: the cheapest cascade of each family reaching the chosen plan's accuracy."""
    target = choice.calib.accuracy
    out = {}
    for family, cands in choice.families.items():
        cost = cands.usd if cost_unit == "usd" else cands.device_ms
        k = cheapest_reaching(cost, cands.accuracy, target - 1e-12)
        out[family] = None if k is None else {
            "accuracy_calibration": float(cands.accuracy[k]),
            "cost_device_ms": float(cands.device_ms[k]),
            "cost_usd_per_1k": float(cands.usd[k] * 1000.0),
            "tiers": [list(t.members) for t in cands.tiers(k)],
        }
    return out
