"""`coe bench resplit`: does the match-best plan hold on images it never saw?

The 10,000 labelled images of the test folder (calibration + test splits) are re-split
into calibration and test halves several times (stratified, seeded). Each time the planner
chooses on the calibration half only and the plan is scored on the other half. Counted:
how often the plan's test accuracy is at least the single best's, and the cost ratio single
best / plan in same-footing dollars (each on its cheapest class, priced at the planned
rate; EMULATED GPU classes). Cached predictions and profiles make each resplit seconds.
"""

from __future__ import annotations

import statistics

import numpy as np
from pydantic import BaseModel

from planner.robust import DEFAULT_CONFIDENCE, DEFAULT_POLICY


class ResplitOptions(BaseModel):
    pool: str = "all"
    dataset: str = "cifar10-jpeg"
    resplits: int = 10
    rate: float = 20.0
    classes: str = "T4,L4,A100-40GB"
    selection: str = "bootstrap"
    confidence: float = DEFAULT_CONFIDENCE
    policy: str = DEFAULT_POLICY


def run_resplit(options: ResplitOptions, progress: bool = True) -> dict:
    from tqdm import tqdm

    from cost_model.device_time import emulation_note
    from planner.costs import Batching
    from planner.plan import Objective, PredSet, run_plan
    from planner.pool import resolve_pool
    from planner.predictions import pool_probs
    from planner.profile import cost_table, profile_pool
    from planner.search import SearchSpace
    from zoo.datasets import stratified_halves

    pool = resolve_pool(options.pool)
    classes = [c for c in options.classes.split(",") if c]
    probs_a, labels_a = pool_probs(pool, options.dataset, "calibration", progress)
    probs_b, labels_b = pool_probs(pool, options.dataset, "test", progress)
    probs = {m: np.concatenate([probs_a[m], probs_b[m]]) for m in pool}
    labels = np.concatenate([labels_a, labels_b])
    costs = cost_table(profile_pool(pool, progress=progress), classes,
                       batching=Batching(options.rate))
    objective = Objective(policy=options.policy, selection=options.selection,
                          confidence=options.confidence)
    space = SearchSpace(choose_classes=True)
    runs = []
    for seed in tqdm(range(options.resplits), desc="resplits", disable=not progress):
        calib_idx, test_idx = stratified_halves(labels, seed=1000 + seed)

        def subset(index):
            return PredSet({m: p[index] for m, p in probs.items()}, labels[index])

        choice, result = run_plan(subset(calib_idx), subset(test_idx), pool, costs, classes,
                                  objective, space, progress=False)
        best = result.singles[choice.single_best]
        runs.append({
            "seed": 1000 + seed,
            "single_best": choice.single_best,
            "tiers": [list(t.members) for t in choice.tiers],
            "tiers_gpu": [t.gpu_class for t in choice.tiers],
            "accuracy_test": result.chosen.accuracy,
            "single_best_accuracy_test": best.accuracy,
            "accuracy_calibration": choice.calib.accuracy,
            "cost_ratio_usd": best.expected_usd / result.chosen.expected_usd,
            "held": bool(result.chosen.accuracy >= best.accuracy),
        })
    ratios = [r["cost_ratio_usd"] for r in runs]
    return {
        "resplits": len(runs),
        "held": sum(r["held"] for r in runs),
        "ratios": ratios,
        "median_ratio": statistics.median(ratios) if ratios else None,
        "footing": "single best on its cheapest class / plan on its chosen classes, $ at "
        f"{options.rate:g} req/s",
        "options": options.model_dump(),
        "note": emulation_note(True),
        "runs": runs,
    }
