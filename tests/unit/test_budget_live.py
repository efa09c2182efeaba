"""Pure parts of `coe bench budget-stream` (offline and --live): no Ray, no models."""

import numpy as np
import pytest

from load_tests.experiments.budget_live import agreement, read_predictions
from load_tests.experiments.budget_stream import shifted_stream, summarise_run


def test_agreement_needs_both_exit_tier_and_label():
    out = agreement([0, 1, 2, 0], [3, 4, 5, 6], [0, 1, 1, 0], [3, 4, 5, 7])
    assert out["images"] == 4 and out["mismatches"] == 2
    assert out["agreement"] == pytest.approx(0.5)
    assert out["same_exit_tier"] == pytest.approx(0.75)
    assert out["same_label"] == pytest.approx(0.75)


def test_agreement_of_nothing_is_none():
    assert agreement([], [], [], [])["agreement"] is None


def _prediction(label, tier, seconds_by_class, usd):
    return {"label": label, "class_name": str(label), "confidence": 0.9,
            "exit_tier": {"name": f"tier{tier}", "index": tier}, "tiers": [],
            "latency_ms": 1.0,
            "cost": {"device_seconds_by_gpu_class": seconds_by_class, "usd": usd}}


def test_read_predictions_uses_the_keepers_cost_in_the_budget_unit():
    body = {"predictions": [_prediction(3, 0, {"L4": 0.0001}, 2e-7),
                            _prediction(5, 2, {"L4": 0.0001, "T4": 0.0003}, 6e-7)]}
    exits, labels, ms = read_predictions(body, "device_ms")
    assert exits == [0, 2] and labels == [3, 5]
    assert ms == pytest.approx([0.1, 0.4])
    _, _, usd = read_predictions(body, "usd_per_1k")
    assert usd == pytest.approx([2e-4, 6e-4])


def test_summarise_run_splits_at_the_shift_and_averages_windows():
    cost = np.array([1.0] * 40 + [2.0] * 40)
    correct = np.array([True] * 40 + [False] * 20 + [True] * 20)
    exits = np.array([0] * 40 + [1] * 40)
    run = summarise_run(cost, correct, np.array([0.0, -0.5]), 40, 1.0, 20, exits)
    assert run["before_shift"]["realized_over_target"] == pytest.approx(1.0)
    assert run["after_shift"]["realized_over_target"] == pytest.approx(2.0)
    assert run["after_shift"]["accuracy"] == pytest.approx(0.5)
    assert run["windows_realized"] == pytest.approx([1.0, 1.0, 2.0, 2.0])
    assert run["windows_within_10pct"] == pytest.approx(0.5)
    assert run["exit_distribution"] == [40, 40] and run["final_offset"] == -0.5


def test_shifted_stream_raises_the_hard_share_after_the_midpoint():
    hard = np.zeros(1000, dtype=bool)
    hard[:100] = True  # 10% hard
    order, shift_at = shifted_stream(hard, 4000, 0.5, np.random.default_rng(0))
    assert order.size == 4000 and shift_at == 2000
    assert hard[order[:shift_at]].mean() == pytest.approx(0.1, abs=0.03)
    assert hard[order[shift_at:]].mean() == pytest.approx(0.5, abs=0.03)
    again, _ = shifted_stream(hard, 4000, 0.5, np.random.default_rng(0))
    assert np.array_equal(order, again)  # same seed, same stream: live and offline agree
