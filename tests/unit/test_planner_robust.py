"""Bootstrap selection: lucky calibration wins do not pass, real ones do."""

import numpy as np
import pytest

from planner.robust import bootstrap_lower_bound, first_robust


def test_identical_predictions_have_a_zero_bound():
    right = np.array([1, 0, 1, 1], dtype=bool)
    assert bootstrap_lower_bound(right, right) == 0.0


def test_a_loss_has_a_negative_bound_and_a_clear_margin_a_positive_one():
    rng = np.random.default_rng(0)
    reference = rng.random(2000) < 0.8
    worse = reference.copy()
    worse[np.flatnonzero(reference)[:30]] = False
    better = reference.copy()
    better[np.flatnonzero(~reference)[:60]] = True
    assert bootstrap_lower_bound(worse, reference) < 0
    assert bootstrap_lower_bound(better, reference) > 0


def test_first_robust_skips_cheap_candidates_that_only_tie_by_luck():
    rng = np.random.default_rng(1)
    reference = rng.random(1000) < 0.8
    # candidate 0: same count as the reference but right on different images (a noisy tie)
    noisy = reference.copy()
    wrong_now = np.flatnonzero(reference)[:40]
    right_now = np.flatnonzero(~reference)[:40]
    noisy[wrong_now], noisy[right_now] = False, True
    solid = reference.copy()
    solid[np.flatnonzero(~reference)[:50]] = True
    candidates = {0: noisy, 1: solid}
    chosen = first_robust(np.array([0, 1]), candidates.__getitem__, reference, confidence=0.8)
    assert chosen == 1
    assert first_robust(np.array([0]), candidates.__getitem__, reference, 0.8) is None


def test_confidence_must_be_a_probability():
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_lower_bound(np.ones(3, bool), np.ones(3, bool), confidence=1.5)
