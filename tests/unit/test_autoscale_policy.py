"""The escalation-aware sizing policy, its delays and Serve's queue rule: pure, no Ray."""

import pytest

from cascade.autoscale_policy import (
    DelayState,
    MemberLoadModel,
    apply_delays,
    desired_replicas,
    queue_driven_replicas,
    reach_from_exits,
    replicas_for_rate,
)


def member(name="m", tier=0, host=0.001, max_replicas=64, min_replicas=1):
    # call time grows slowly with the batch: 1 ms + 0.1 ms per image, batches up to 8
    calls = tuple(0.001 + 0.0001 * b for b in range(1, 9))
    return MemberLoadModel(name, tier, calls, 0.005, host, min_replicas, max_replicas)


def test_reach_from_exit_counters():
    assert reach_from_exits([70, 20, 10]) == pytest.approx((1.0, 0.3, 0.1))
    assert reach_from_exits([0, 0]) == (1.0, 1.0)  # nothing seen: assume every tier reached


def test_replicas_keep_each_below_the_target_utilisation():
    m = member()
    for rate in (50.0, 700.0, 5_000.0):
        n = replicas_for_rate(m, rate, headroom=1.4)
        assert m.utilisation(rate / n) <= 1 / 1.4 + 1e-9
        if n > 1:
            assert m.utilisation(rate / (n - 1)) > 1 / 1.4  # and it is the fewest
    assert replicas_for_rate(m, 0.0, 1.4) == 1


def test_bounds_apply():
    m = member(max_replicas=3, min_replicas=2)
    assert replicas_for_rate(m, 1e6, 1.4) == 3
    assert replicas_for_rate(m, 1.0, 1.4) == 2


def test_upper_tier_follows_escalation_at_the_same_rate():
    members = [member("a", 0), member("b", 1)]
    low = desired_replicas(5_000.0, (1.0, 0.1), members)
    high = desired_replicas(5_000.0, (1.0, 0.5), members)
    assert low["a"] == high["a"]
    assert high["b"] > low["b"]


def test_delays_hold_scale_up_then_apply_it():
    state = DelayState()
    assert apply_delays({"b": 5}, {"b": 2}, 0.0, state, 3.0, 60.0) == {"b": 2}
    assert apply_delays({"b": 5}, {"b": 2}, 2.0, state, 3.0, 60.0) == {"b": 2}
    assert apply_delays({"b": 5}, {"b": 2}, 3.0, state, 3.0, 60.0) == {"b": 5}


def test_scale_down_waits_and_keeps_the_largest_wanted():
    state = DelayState()
    assert apply_delays({"b": 2}, {"b": 6}, 0.0, state, 3.0, 60.0) == {"b": 6}
    assert apply_delays({"b": 4}, {"b": 6}, 30.0, state, 3.0, 60.0) == {"b": 6}
    assert apply_delays({"b": 2}, {"b": 6}, 60.0, state, 3.0, 60.0) == {"b": 4}
    # a rise in between cancels the pending scale-down
    state = DelayState()
    apply_delays({"b": 2}, {"b": 6}, 0.0, state, 3.0, 60.0)
    apply_delays({"b": 6}, {"b": 6}, 10.0, state, 3.0, 60.0)
    assert apply_delays({"b": 2}, {"b": 6}, 61.0, state, 3.0, 60.0) == {"b": 6}


def test_queue_rule():
    assert queue_driven_replicas(9.0, 2.0, 1, 1, 8) == 5
    assert queue_driven_replicas(0.0, 2.0, 3, 1, 8) == 1
    assert queue_driven_replicas(100.0, 2.0, 3, 1, 8) == 8


def test_invalid_models_are_refused():
    with pytest.raises(ValueError, match="call_seconds"):
        MemberLoadModel("x", 0, ())
    with pytest.raises(ValueError, match="headroom"):
        replicas_for_rate(member(), 10.0, 0.5)
