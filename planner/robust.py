"""Match-best selection that holds on unseen data: a bootstrap lower bound, not a point count.

Why: the cheapest cascade whose calibration accuracy reaches the single best's is, by
construction, the one whose thresholds fit calibration luck best; on test it tends to fall
short. Here a candidate qualifies only if the lower bound of the paired bootstrap of
(candidate correct - single best correct) on calibration is >= -tolerance. Pairing on the
same images cancels the shared difficulty of each image, so the bound is tight enough to
still admit cheap cascades.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: 0.95, not 0.8: the search tries thousands of thresholds on the same calibration images,
#: so the cheapest candidate whose bound clears is flattered by that choice. At 0.8 the
#: match-best plan fell short of the single best on test (docs/RESULTS.md, 2026-12-03).
DEFAULT_CONFIDENCE = 0.95
#: What `coe plan` and `coe bench resplit` choose from unless told: every family, so the plan
#: is the cheapest one whose bootstrap bound holds, whichever family that is.
DEFAULT_POLICY = "any"
DEFAULT_RESAMPLES = 400


def bootstrap_lower_bound(
    candidate_correct: np.ndarray,
    reference_correct: np.ndarray,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> float:
    """One-sided lower bound at `confidence` of mean(candidate - reference) accuracy."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    diff = candidate_correct.astype(np.float64) - reference_correct.astype(np.float64)
    if diff.size == 0:
        raise ValueError("no examples to bootstrap")
    if not diff.any():
        return 0.0
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for i in range(resamples):
        means[i] = diff[rng.integers(0, diff.size, diff.size)].mean()
    return float(np.quantile(means, 1.0 - confidence))


def first_robust(
    order: np.ndarray,
    correct_of: Callable[[int], np.ndarray],
    reference_correct: np.ndarray,
    confidence: float = DEFAULT_CONFIDENCE,
    tolerance: float = 0.0,
    limit: int = 400,
) -> int | None:
    """The first candidate in `order` (cheapest first) whose bound clears -tolerance."""
    for k in order[:limit]:
        bound = bootstrap_lower_bound(correct_of(int(k)), reference_correct, confidence)
        if bound >= -tolerance:
            return int(k)
    return None
