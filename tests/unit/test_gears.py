"""Gear selection with hysteresis, and gear planning on synthetic predictions."""

import numpy as np
import pytest
from pydantic import ValidationError

from cascade.autoscale_policy import MemberLoadModel
from cascade.gears import Gear, GearSet, select_gear
from planner.costs import CostTable
from planner.gears import escalation_ceiling, plan_gears
from planner.simulate import TierSpec

GEARS = [Gear(name="g0", thresholds=[1.0], max_rate_per_s=100.0),
         Gear(name="g1", thresholds=[0.5], max_rate_per_s=200.0)]


def test_shift_up_at_once_and_down_with_hysteresis():
    assert select_gear(90.0, 0, GEARS, 0.2) == 0
    assert select_gear(120.0, 0, GEARS, 0.2) == 1
    assert select_gear(90.0, 1, GEARS, 0.2) == 1  # within 20% of g0's bound: stay
    assert select_gear(79.0, 1, GEARS, 0.2) == 0
    assert select_gear(1e9, 0, GEARS, 0.2) == 1  # beyond the last gear: the cheapest


def test_gear_set_must_be_ordered():
    with pytest.raises(ValidationError, match="gears"):
        GearSet(gears=list(reversed(GEARS)))


def synthetic_cascade():
    rng = np.random.default_rng(0)
    n, c = 400, 10
    labels = rng.integers(0, c, n)

    def probs(correct_rate):
        p = rng.random((n, c))
        right = rng.random(n) < correct_rate
        p[np.arange(n)[right], labels[right]] += 5.0
        return p / p.sum(axis=1, keepdims=True)

    pred = {"a": probs(0.7), "b": probs(0.7), "big": probs(0.95)}
    tiers = [TierSpec(("a", "b"), "agreement", 1.0, "vote", "T4"),
             TierSpec(("big",), "agreement", 0.0, "vote", "T4")]
    costs = CostTable({"T4": 1e-7}, device_ms={(m, "T4"): 1.0 for m in pred})
    calls = (0.002,)
    members = [MemberLoadModel("t0-a", 0, calls), MemberLoadModel("t0-b", 0, calls),
               MemberLoadModel("t1-big", 1, calls)]
    weights = {m.deployment: 1.0 for m in members}
    return tiers, pred, labels, costs, members, weights


def test_plan_gears_orders_by_accuracy_and_gives_increasing_load_ranges():
    tiers, pred, labels, costs, members, weights = synthetic_cascade()
    gears = plan_gears(tiers, pred, labels, costs, members, weights, budget=7.0).gears
    assert len(gears) == 2
    assert gears[0].thresholds == [1.0] and gears[1].thresholds == [0.5]
    assert gears[0].accuracy > gears[1].accuracy
    assert gears[0].max_rate_per_s < gears[1].max_rate_per_s
    assert gears[1].expected_reach[1] == 0.0


def test_top_gear_plan_keeps_no_gear_that_escalates_more_than_the_plan():
    tiers, pred, labels, costs, members, weights = synthetic_cascade()
    cheap_plan = [tiers[0].__class__(**{**tiers[0].__dict__, "threshold": 0.5}), tiers[1]]
    assert escalation_ceiling("most_accurate", cheap_plan, pred, labels, costs) is None
    ceiling = escalation_ceiling("plan", cheap_plan, pred, labels, costs)
    assert ceiling == 0.0  # agreement at 0.5 of two members: every image exits at tier 0
    gears = plan_gears(tiers, pred, labels, costs, members, weights, budget=7.0,
                       max_escalation=ceiling).gears
    assert [g.thresholds for g in gears] == [[0.5]]  # the accurate, escalating gear is gone
    with pytest.raises(ValueError, match="top gear"):
        escalation_ceiling("cheapest", tiers, pred, labels, costs)


def test_shift_back_to_an_escalating_gear_waits_for_the_upper_tier():
    from planner.autoscale_controllers import EscalationAwareController
    from planner.cluster_sim import Observation

    gears = [Gear(name="g0", thresholds=[1.0], max_rate_per_s=1_000.0,
                  expected_reach=[1.0, 0.5]),
             Gear(name="g1", thresholds=[0.5], max_rate_per_s=1e9, expected_reach=[1.0, 0.0])]
    calls = (0.01,)  # 100 requests/s per replica
    members = [MemberLoadModel("a", 0, calls, max_replicas=64),
               MemberLoadModel("b", 1, calls, max_replicas=64)]
    controller = EscalationAwareController(members, 1.4, 0.0, 0.0, gears, 0.15, warmup_s=40)

    def obs(t, rate, gear, replicas):
        return Observation(t, rate, np.array([rate, 0.0]), {}, replicas, gear)

    targets, gear = controller(obs(0.0, 2_000.0, 0, {"a": 3, "b": 2}))
    assert gear == 1  # above g0's range: the cheaper gear at once
    targets, gear = controller(obs(10.0, 500.0, 1, targets))
    assert gear == 1 and targets["b"] > 1  # not yet: tier 1 is sized for g0's reach first
    targets, gear = controller(obs(50.0, 500.0, 1, targets))
    assert gear == 0
