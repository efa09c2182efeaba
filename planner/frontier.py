"""Pareto frontier of accuracy vs cost, and comparisons read off it.

Why its own module: the search prunes with it, the report plots it, and the CoE-vs-confidence
comparison ("what does each family pay for the same accuracy?") is a lookup on it.
"""

from __future__ import annotations

import numpy as np


def pareto_mask(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """True for points no other point beats (cheaper-or-equal and strictly better score)."""
    cost = np.asarray(cost)
    score = np.asarray(score)
    if cost.size == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((-score, cost))
    ranked = score[order]
    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(ranked)[:-1]])
    keep = np.zeros(cost.shape[0], dtype=bool)
    keep[order] = ranked > best_before
    return keep


def frontier(cost: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Pareto points sorted by cost: (costs, scores), both increasing."""
    keep = pareto_mask(cost, score)
    order = np.argsort(np.asarray(cost)[keep], kind="stable")
    return np.asarray(cost)[keep][order], np.asarray(score)[keep][order]


def cheapest_reaching(cost: np.ndarray, score: np.ndarray, target: float) -> int | None:
    """Index of the least-cost point with score >= target (None if nothing reaches it)."""
    feasible = np.nonzero(np.asarray(score) >= target)[0]
    if feasible.size == 0:
        return None
    order = np.lexsort((-np.asarray(score)[feasible], np.asarray(cost)[feasible]))
    return int(feasible[order[0]])
