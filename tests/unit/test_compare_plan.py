"""Window alternation and the max-sustainable-throughput search, on synthetic numbers."""

from __future__ import annotations

import pytest

from load_tests.experiments.bench_plan import (
    RateSearch,
    StepOutcome,
    alternating_order,
    max_sustainable_rate,
    rate_ladder,
    ratio,
    sustained,
)


def test_alternating_order_is_abba():
    assert alternating_order(["a", "b"], 4) == [
        (0, "a"), (0, "b"), (1, "b"), (1, "a"), (2, "a"), (2, "b"), (3, "b"), (3, "a"),
    ]


def test_alternating_order_gives_each_app_every_round_and_each_position_equally():
    order = alternating_order(["a", "b"], 6)
    firsts = [app for i, (_, app) in enumerate(order) if i % 2 == 0]
    assert firsts.count("a") == firsts.count("b") == 3
    assert sorted(order) == sorted((r, app) for r in range(6) for app in "ab")


@pytest.mark.parametrize("apps, rounds", [([], 1), (["a", "a"], 1), (["a", "b"], 0)])
def test_alternating_order_rejects_bad_input(apps, rounds):
    with pytest.raises(ValueError):
        alternating_order(apps, rounds)


def test_rate_ladder_is_geometric_and_inclusive():
    assert rate_ladder(5, 2, 40) == [5, 10, 20, 40]
    assert rate_ladder(5, 1.5, 20) == [5, 7.5, 11.2, 16.9]
    with pytest.raises(ValueError):
        rate_ladder(5, 1.0, 20)


def step(rate, p99, sent=100, ok=100):
    return StepOutcome(rate=rate, sent=sent, ok=ok, p99_ms=p99)


def test_sustained_checks_slo_and_error_rate():
    assert sustained(step(10, 199.9), 200)
    assert not sustained(step(10, 200.1), 200)
    assert sustained(step(10, 50, sent=100, ok=99), 200)  # exactly 1 % errors is allowed
    assert not sustained(step(10, 50, sent=100, ok=98), 200)
    assert not sustained(step(10, None, sent=5, ok=0), 200)
    assert not sustained(step(10, None, sent=0, ok=0), 200)


def test_max_sustainable_rate_stops_at_first_failure():
    # latency grows with load: passes at 5, 10, 20; fails at 40; a lucky pass at 80 is ignored
    outcomes = [step(80, 150), step(5, 30), step(40, 900), step(10, 40), step(20, 120)]
    assert max_sustainable_rate(outcomes, slo_p99_ms=200) == 20
    assert max_sustainable_rate([step(5, 500)], slo_p99_ms=200) is None


def test_rate_search_retires_failed_app_and_alternates():
    search = RateSearch(["a", "b"], [5, 10, 20, 40], slo_p99_ms=200)
    # synthetic p99 curves: a saturates after 10 req/s, b after 20
    p99 = {"a": {5: 20, 10: 60, 20: 400, 40: 2000}, "b": {5: 30, 10: 40, 20: 90, 40: 700}}
    orders = []
    for i, rate in enumerate(search.rates):
        order = search.order_at(i)
        orders.append(order)
        for app in order:
            search.record(app, step(rate, p99[app][rate]))
        if search.done():
            break
    assert orders == [["a", "b"], ["b", "a"], ["a", "b"], ["b"]]
    assert search.result() == {"a": 10, "b": 20}
    assert search.done()
    assert search.censored() == {"a": False, "b": False}


def test_rate_search_flags_apps_that_never_failed():
    search = RateSearch(["a", "b"], [5, 10], slo_p99_ms=200)
    for i, rate in enumerate(search.rates):
        for app in search.order_at(i):
            search.record(app, step(rate, 10 if app == "a" else 500))
    assert search.result() == {"a": 10, "b": None}
    assert search.censored() == {"a": True, "b": False}


def test_errors_fail_a_step_even_with_low_latency():
    search = RateSearch(["a"], [5, 10], slo_p99_ms=200)
    assert not search.record("a", step(5, 10, sent=50, ok=40))
    assert search.result() == {"a": None}


def test_ratio_handles_unknowns():
    assert ratio(1.0, 4.0) == 0.25
    assert ratio(None, 4.0) is None
    assert ratio(1.0, 0.0) is None
