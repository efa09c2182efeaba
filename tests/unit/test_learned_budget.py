"""Threshold assignment of a learned cascade: EENet quantiles, then cost = B exactly."""

import numpy as np
import pytest

from cascade.learned import Scheduler, logit, scheduler_feature_names
from planner.costs import uniform_cost_table
from planner.learned_budget import meet_budget, quantile_thresholds
from planner.learned_train import CascadeData, TrainSettings, cascade_data, train_schedulers
from planner.simulate import TierSpec


def synthetic(n=2000, seed=1):
    """A cheap noisy member 'a' and an expensive accurate member 'b' over 4 classes; a
    member is more confident (on average) when it is right."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)

    def member(accuracy, sharp):
        right = rng.random(n) < accuracy
        vote = np.where(right, labels, rng.integers(0, 4, n))
        logits = rng.normal(size=(n, 4))
        logits[np.arange(n), vote] += sharp * rng.random(n) * np.where(right, 4.0, 1.0)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    return {"a": member(0.6, 2.0), "b": member(0.95, 3.0)}, labels


def test_quantile_thresholds_let_out_the_asked_fractions():
    names = tuple(scheduler_feature_names([["a"]]))
    weight = np.zeros((1, len(names)))
    weight[0, 0] = 1.0
    s = Scheduler(names, (weight,), (np.zeros(1),))
    x = np.zeros((10, len(names)))
    x[:, 0] = np.arange(10)
    data = CascadeData([x], [list(names)], np.zeros((2, 10)), np.zeros((2, 10)),
                       np.zeros((2, 10)))
    (threshold,) = quantile_thresholds([s], data, [0.3, 0.7])
    exits = s.logits(x) >= logit(threshold)
    assert exits.sum() == 3 and exits[-3:].all()


def test_trained_cascade_meets_the_budget_on_its_split():
    probs, labels = synthetic(n=1000)
    costs = uniform_cost_table({"a": 1.0, "b": 10.0}, ["T4"])
    data = cascade_data([("a",), ("b",)], "mean", probs, labels)
    schedulers = train_schedulers(data, [1.0, 10.0], 5.0, TrainSettings(epochs=30, lr=0.1))
    base = quantile_thresholds(schedulers, data, [0.5, 0.5])
    structure = [TierSpec(("a",), "learned", 0.5, "mean", "T4"),
                 TierSpec(("b",), "learned", 0.0, "mean", "T4")]
    for budget in (3.0, 8.0):
        fit = meet_budget(structure, schedulers, base, probs, labels, costs, budget,
                          "device_ms")
        assert fit.feasible
        assert fit.sim.expected_device_ms == pytest.approx(budget, rel=0.01)
    # the scheduler beats escalating at random: more accurate than the cost-matched mix
    fit = meet_budget(structure, schedulers, base, probs, labels, costs, 5.5, "device_ms")
    reach = fit.sim.tier_reach[1]
    a_right = (probs["a"].argmax(1) == labels).mean()
    b_right = (probs["b"].argmax(1) == labels).mean()
    assert fit.sim.accuracy > (1 - reach) * a_right + reach * b_right + 0.02


def test_budget_below_the_first_tier_is_infeasible():
    probs, labels = synthetic(n=300)
    costs = uniform_cost_table({"a": 1.0, "b": 10.0}, ["T4"])
    data = cascade_data([("a",), ("b",)], "mean", probs, labels)
    schedulers = train_schedulers(data, [1.0, 10.0], 5.0, TrainSettings(epochs=5))
    structure = [TierSpec(("a",), "learned", 0.5, "mean", "T4"),
                 TierSpec(("b",), "learned", 0.0, "mean", "T4")]
    fit = meet_budget(structure, schedulers, [0.5], probs, labels, costs, 0.5, "device_ms")
    assert not fit.feasible
