"""The live autoscaling check's calibration arithmetic, rate derivation and sim/live ratios."""

import numpy as np
import pytest

from cascade.autoscale_policy import MemberLoadModel, replicas_for_rate
from load_tests.experiments.autoscale_calibration import (
    compare_live_sim,
    derive_step_rates,
    headroom_for_scale_up,
    host_capacity,
    host_seconds_from_latency,
    p50_by_phase,
    phase_of,
    rate_boundary,
    ratio_check,
    tier_fixed_seconds,
)
from planner.cluster_sim import SimResult


def member(name="t0-a", tier=0, call=0.003, host=0.0, wait=0.005, batch=8):
    return MemberLoadModel(deployment=name, tier=tier, call_seconds=(call,) * batch,
                           batch_wait_timeout_s=wait, host_seconds_per_request=host)


def test_fixed_part_is_wait_plus_slowest_call_plus_hop():
    tiers = [[member(call=0.003), member("t0-b", call=0.001)], [member("t1", 1, call=0.007)]]
    assert tier_fixed_seconds(tiers, 0.010) == pytest.approx([0.018, 0.022])


def test_host_time_is_the_median_per_tier_residual():
    fixed = [0.018, 0.022]
    # one-tier requests with 20 ms of host each; a two-tier request with 20 ms per tier
    samples = [(0.038, 1)] * 5 + [(0.018 + 0.022 + 0.040, 2)] * 2 + [(1.0, 1)]
    out = host_seconds_from_latency(samples, fixed)
    assert out["host_seconds_per_request"] == pytest.approx(0.020)
    assert out["requests"] == 8
    assert out["mean_tiers_ran"] == pytest.approx(10 / 8)


def test_host_time_divides_out_the_shared_host_stretch_it_was_measured_at():
    # measured at a load where the simulator stretches every tier by 1.25: (18 + 20) x 1.25
    out = host_seconds_from_latency([(0.038 * 1.25, 1)] * 3, [0.018], stretch=1.25)
    assert out["host_seconds_per_request"] == pytest.approx(0.020)
    with pytest.raises(ValueError, match="stretch below 1"):
        host_seconds_from_latency([(0.038, 1)], [0.018], stretch=0.9)


def test_negative_residual_is_floored_but_reported():
    out = host_seconds_from_latency([(0.010, 1)], [0.018])
    assert out["host_seconds_per_request"] == 0.0
    assert out["median_residual_s"] == pytest.approx(-0.008)


def test_calibration_needs_answers_and_known_tiers():
    with pytest.raises(ValueError):
        host_seconds_from_latency([], [0.018])
    with pytest.raises(ValueError):
        host_seconds_from_latency([(0.05, 3)], [0.018, 0.022])


def test_host_capacity_subtracts_the_idle_draw():
    # 10 s, 0.2 cores idle, 6 CPU-s spent, 200 requests: (6 - 2) / 200 = 20 ms a request
    out = host_capacity(6.0, 10.0, 0.2, 200, 2.0)
    assert out["cpu_seconds_per_request"] == pytest.approx(0.020)
    assert out["host_capacity_rps"] == pytest.approx(1.8 / 0.020)


def test_rate_boundary_matches_the_sizing_function():
    m = member(host=0.020)  # host dominates: 50 req/s a replica flat out
    r1 = rate_boundary([m], 1, 1.4)
    assert r1 == pytest.approx(50 / 1.4, rel=1e-3)
    assert replicas_for_rate(m, r1 * 0.999, 1.4) == 1
    assert replicas_for_rate(m, r1 * 1.001, 1.4) == 2
    assert rate_boundary([m], 2, 1.4) == pytest.approx(100 / 1.4, rel=1e-3)


def test_rate_boundary_takes_the_tightest_member():
    slow, fast = member(host=0.020), member("t0-b", host=0.010)
    assert rate_boundary([slow, fast], 1, 1.4) == pytest.approx(rate_boundary([slow], 1, 1.4))


def test_derived_high_sits_in_the_two_replica_band():
    m = member(host=0.020)
    out = derive_step_rates([m], 1.4, host_capacity_rps=1000.0)
    assert out["low_rate"] == pytest.approx(out["r1_rps"] / 2)
    assert out["r1_rps"] < out["high_rate"] < out["r2_rps"]
    assert replicas_for_rate(m, out["low_rate"], 1.4) == 1
    assert replicas_for_rate(m, out["high_rate"], 1.4) == 2
    assert out["high_needs_more_replicas"]


def test_derived_high_is_capped_by_the_host_and_says_when_it_cannot_scale():
    m = member(host=0.020)  # r1 ~ 35.7
    capped = derive_step_rates([m], 1.4, host_capacity_rps=80.0, max_host_load=0.6)
    assert capped["high_rate"] == pytest.approx(48.0)  # band middle ~53.6
    assert capped["high_needs_more_replicas"]
    blocked = derive_step_rates([m], 1.4, host_capacity_rps=50.0, max_host_load=0.6)
    assert blocked["high_rate"] == pytest.approx(30.0)
    assert not blocked["high_needs_more_replicas"]
    assert "cannot" in blocked["note"]
    suggested = blocked["headroom_for_scale_up"]
    assert suggested == pytest.approx(1.25 / (0.020 * 30.0), rel=1e-3)
    assert rate_boundary([m], 1, suggested) * 1.25 <= 30.0 + 1e-6
    assert capped["headroom_for_scale_up"] is None


def test_headroom_for_scale_up_edges():
    m = member(host=0.020)
    assert headroom_for_scale_up([m], 1000.0) == 1.0
    assert headroom_for_scale_up([m], 0.1, max_headroom=10.0) is None


def test_phases_and_their_medians():
    assert phase_of(0.0, 60) == "low"
    assert phase_of(60.0, 60) == "high"
    assert phase_of(179.9, 60) == "low_again"
    assert phase_of(180.0, 60) is None
    assert phase_of(-1.0, 60) is None
    out = p50_by_phase([(1, 10.0), (2, 30.0), (3, 20.0), (70, 100.0), (200, 1.0)], 60)
    assert out == {"low": 20.0, "high": 100.0, "low_again": None}


def test_ratio_check_is_relative_to_live_and_not_fudged():
    assert ratio_check(125.0, 100.0)["within_25pct"]
    assert ratio_check(75.0, 100.0)["within_25pct"]
    out = ratio_check(126.0, 100.0)
    assert out["ratio"] == pytest.approx(1.26) and not out["within_25pct"]
    assert not ratio_check(None, 100.0)["within_25pct"]
    assert not ratio_check(1.0, 0.0)["within_25pct"]


def test_compare_counts_every_phase_and_simulated_deployment():
    live_p50 = {"low": 40.0, "high": 60.0, "low_again": 40.0}
    sim_p50 = {"low": 45.0, "high": 100.0, "low_again": 42.0}
    live = {"low": {"a": 1.0, "CascadeIngress": 1.0}, "high": {"a": 2.0}, "low_again": {"a": 1.2}}
    sim = {"low": {"a": 1.0}, "high": {"a": 2.0}, "low_again": {"a": 1.8}}
    out = compare_live_sim(live_p50, sim_p50, live, sim)
    assert out["checks"] == 6  # 3 p50 + 3 phases x 1 simulated deployment
    assert out["within"] == 4
    assert not out["all_within_25pct"]
    assert not out["by_phase"]["high"]["p50_ms"]["within_25pct"]
    assert not out["by_phase"]["low_again"]["replicas"]["a"]["within_25pct"]
    assert "CascadeIngress" not in out["by_phase"]["low"]["replicas"]


def test_sim_p50_over_a_window_of_ticks():
    values = np.zeros((4, 1, 2))
    weights = np.zeros((4, 1, 2))
    values[:2], weights[:2] = 0.010, 1.0
    values[2:], weights[2:] = 0.050, 1.0
    result = SimResult(0, 0, 0, 0, 0, 0, 0, 0, {}, tick_latency=(values, weights, 0.5))
    assert result.p50_ms_between(0.0, 1.0) == pytest.approx(10.0)
    assert result.p50_ms_between(1.0, 2.0) == pytest.approx(50.0)
    from load_tests.experiments.autoscale_calibration import sim_p50_by_window

    assert sim_p50_by_window(result, 2.0, 1.0) == pytest.approx([10.0, 50.0])


def test_p50_by_window_splits_requests_by_send_time():
    from load_tests.experiments.autoscale_calibration import p50_by_window

    samples = [(0.5, 10.0), (9.9, 30.0), (10.0, 50.0), (25.0, 70.0), (31.0, 999.0), (-1, 5.0)]
    assert p50_by_window(samples, 30.0) == [20.0, 50.0, 70.0]
    assert p50_by_window([], 20.0, 5.0) == [None, None, None, None]
    with pytest.raises(ValueError, match="positive"):
        p50_by_window(samples, 30.0, 0.0)


def test_cpu_per_request_above_idle_is_the_phases_busy_cores_less_the_idle_draw():
    from load_tests.experiments.autoscale_calibration import cpu_per_request_above_idle

    phase = {"busy_cores": 0.5, "seconds": 60.0, "requests": 300}
    assert cpu_per_request_above_idle(phase, 0.2) == pytest.approx(0.3 * 60 / 300)
    assert cpu_per_request_above_idle(phase, 0.9) == 0.0  # never below zero
    assert cpu_per_request_above_idle({**phase, "requests": 0}, 0.2) is None
    assert cpu_per_request_above_idle(None, 0.2) is None


def test_a_replay_takes_each_phases_measured_cpu_from_that_phases_start():
    from load_tests.experiments.autoscale_calibration import measured_host_cpu_by_time

    phases = {"low": {"busy_cores": 0.5, "seconds": 60.0, "requests": 300},
              "high": {"busy_cores": 1.4, "seconds": 60.0, "requests": 1200},
              "low_again": {"busy_cores": 0.6, "seconds": 60.0, "requests": 300}}
    schedule = measured_host_cpu_by_time(phases, 0.2, 60.0)
    assert [t for t, _ in schedule] == [0.0, 60.0, 120.0]
    assert [cpu for _, cpu in schedule] == pytest.approx([0.06, 0.06, 0.08])
    # a phase without requests leaves a hole: no replay rather than a mixed one
    assert measured_host_cpu_by_time({**phases, "high": {**phases["high"], "requests": 0}},
                                     0.2, 60.0) is None
    assert measured_host_cpu_by_time({"low": phases["low"]}, 0.2, 60.0) is None


def test_a_step_that_cannot_scale_is_derived_again_at_the_headroom_that_makes_it():
    from load_tests.experiments.autoscale_calibration import step_rates_that_scale

    m = member(host=0.020)  # r1 ~ 35.7 at headroom 1.4
    kept = step_rates_that_scale([m], 1.4, host_capacity_rps=80.0, max_host_load=0.6)
    assert kept["headroom_used"] == 1.4 and kept["headroom_raised_from"] is None
    assert kept["high_needs_more_replicas"]
    moved = step_rates_that_scale([m], 1.4, host_capacity_rps=50.0, max_host_load=0.6)
    assert moved["headroom_raised_from"] == 1.4
    assert moved["headroom_used"] == pytest.approx(1.25 / (0.020 * 30.0), rel=1e-3)
    assert moved["high_needs_more_replicas"] and moved["high_rate"] == pytest.approx(30.0)
    assert "headroom raised from 1.4" in moved["note"]
