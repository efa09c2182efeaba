"""Schedules send what they promise: mean rates, step and ramp shapes, limits, parse errors."""

import math

import numpy as np
import pytest

from load_tests.client.schedules import ClosedLoopSchedule, parse_schedule, poisson, ramp, step


def test_poisson_mean_rate_within_tolerance_with_fixed_seed():
    times = poisson(50, seed=7).arrival_times(horizon_s=200, max_requests=10**6)
    rate = len(times) / 200
    # 10,000 expected arrivals: sd is 100, so 3% is a 3-sigma band.
    assert rate == pytest.approx(50, rel=0.03)
    gaps = np.diff(times)
    assert gaps.mean() == pytest.approx(1 / 50, rel=0.03)
    assert gaps.std() == pytest.approx(1 / 50, rel=0.05)  # exponential: sd == mean


def test_same_seed_same_arrivals_and_sorted_within_horizon():
    a = poisson(20, seed=3).arrival_times(10, 10**6)
    b = poisson(20, seed=3).arrival_times(10, 10**6)
    c = poisson(20, seed=4).arrival_times(10, 10**6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 10


def test_max_requests_caps_the_arrivals():
    times = poisson(1000, seed=0).arrival_times(horizon_s=100, max_requests=25)
    assert len(times) == 25
    assert times.max() < 0.2  # the first 25 arrivals at 1000/s come early


def test_step_rates_per_segment():
    schedule = step([(10, 20), (60, 20)], seed=1)
    times = schedule.arrival_times(horizon_s=1000, max_requests=10**6)
    assert schedule.duration_s == 40
    assert times.max() < 40
    first, second = (times < 20).sum(), (times >= 20).sum()
    assert first == pytest.approx(200, abs=3 * math.sqrt(200))
    assert second == pytest.approx(1200, abs=3 * math.sqrt(1200))
    assert schedule.expected_requests(30) == pytest.approx(10 * 20 + 60 * 10)


def test_ramp_rate_rises_linearly():
    schedule = ramp(0, 100, 20, seed=2)
    times = schedule.arrival_times(horizon_s=1000, max_requests=10**6)
    counts, _ = np.histogram(times, bins=4, range=(0, 20))
    # Expected per 5 s quarter of a 0->100/s ramp (integral of 5t): 62.5, 187.5, 312.5, 437.5.
    expected = np.array([62.5, 187.5, 312.5, 437.5])
    assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected))
    assert schedule.expected_requests(20) == pytest.approx(1000)
    assert schedule.expected_requests(10) == pytest.approx(250)


def test_falling_ramp_and_horizon_cut():
    times = ramp(40, 0, 10, seed=5).arrival_times(horizon_s=5, max_requests=10**6)
    assert times.max() < 5
    assert len(times) == pytest.approx(150, abs=4 * math.sqrt(150))  # 40*5 - 0.5*4*25


@pytest.mark.parametrize(
    ("spec", "kind"),
    [("poisson:12.5", "poisson"), ("step:5x10, 10 x 5", "step"), ("ramp:1-20/60", "ramp")],
)
def test_parse_open_loop(spec, kind):
    schedule = parse_schedule(spec, seed=9)
    assert schedule.kind == kind and schedule.seed == 9


def test_parse_closed_loop():
    schedule = parse_schedule("closed:8")
    assert isinstance(schedule, ClosedLoopSchedule) and schedule.concurrency == 8
    assert schedule.spec == "closed:8"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("poisson", "expected KIND:ARGS"),
        ("poisson:0", "rate must be > 0"),
        ("poisson:fast", "could not convert"),
        ("closed:0", "concurrency"),
        ("step:5y10", "'5y10' is not RATExSECONDS"),
        ("ramp:1-5", "is not A-B/T"),
        ("burst:3", "unknown kind 'burst'"),
    ],
)
def test_parse_errors_name_the_problem(spec, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_schedule(spec)
    assert spec in str(info.value)
