"""The simulator on hand-made probabilities, with exits and costs worked out by hand."""

import numpy as np
import pytest

from planner.costs import CostTable
from planner.simulate import TierSpec, simulate

CLASSES = ("T4", "A100-40GB")


def onehot(labels, c=3, p=0.9):
    out = np.full((len(labels), c), (1 - p) / (c - 1))
    out[np.arange(len(labels)), labels] = p
    return out


@pytest.fixture()
def costs():
    ms = {("a", "T4"): 1.0, ("b", "T4"): 2.0, ("big", "A100-40GB"): 10.0}
    usd = {"T4": 0.001, "A100-40GB": 0.01}
    return CostTable(usd, device_ms=ms, mflops={"a": 5.0, "b": 7.0, "big": 100.0})


def test_two_tier_agreement_cascade_by_hand(costs):
    labels = np.array([0, 1, 2, 0])
    probs = {
        "a": onehot([0, 1, 0, 1]),  # agrees with b on images 0 and 1 only
        "b": onehot([0, 1, 1, 2]),
        "big": onehot([2, 2, 2, 0]),
    }
    tiers = [
        TierSpec(("a", "b"), "agreement", 1.0, "vote", "T4"),
        TierSpec(("big",), "agreement", 0.0, "vote", "A100-40GB"),
    ]
    r = simulate(tiers, probs, labels, costs)
    assert r.exit_tier.tolist() == [0, 0, 1, 1]
    assert r.predictions.tolist() == [0, 1, 2, 0]
    assert r.accuracy == 1.0
    # every image pays tier 0 (1+2 ms); half of them also pay the big model (10 ms)
    assert r.expected_device_ms == pytest.approx(3.0 + 0.5 * 10.0)
    assert r.expected_usd == pytest.approx(3.0 * 0.001 + 0.5 * 10.0 * 0.01)
    assert r.expected_mflops == pytest.approx(12.0 + 0.5 * 100.0)
    assert r.worst_case_device_ms == pytest.approx(13.0)
    assert r.exit_distribution == (0.5, 0.5)
    assert r.usd_per_1k == pytest.approx(1000 * r.expected_usd)


def test_confidence_policy_and_last_tier_always_answers(costs):
    labels = np.array([0, 1])
    probs = {
        "a": np.array([[0.95, 0.03, 0.02], [0.4, 0.35, 0.25]]),
        "big": np.array([[0.2, 0.7, 0.1], [0.1, 0.2, 0.7]]),  # low-ish confidence, still answers
    }
    tiers = [
        TierSpec(("a",), "confidence", 0.9, "mean", "T4"),
        TierSpec(("big",), "confidence", 0.99, "mean", "A100-40GB"),
    ]
    r = simulate(tiers, probs, labels, costs)
    assert r.exit_tier.tolist() == [0, 1]
    assert r.predictions.tolist() == [0, 2]
    assert r.accuracy == 0.5
    assert r.expected_device_ms == pytest.approx(1.0 + 0.5 * 10.0)


def test_missing_member_predictions_are_named(costs):
    tiers = [TierSpec(("a", "ghost"), "agreement", 1.0, "vote", "T4")]
    with pytest.raises(KeyError, match="ghost"):
        simulate(tiers, {"a": onehot([0])}, np.array([0]), costs)
