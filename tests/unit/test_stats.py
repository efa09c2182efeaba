"""The /v1/stats aggregator: counts reconcile, tier exits add up, memory stays bounded."""

import pytest

from cost_model.record import MemberUsage, record_from_usage
from serve_app.runner import ImageOutcome, TierTrace
from serve_app.stats import LatencyRing, StatsAggregator

PRICES = {"T4": 0.001, "A100-40GB": 0.01}


def trace(index, decision):
    return TierTrace(f"t{index}", index, {}, 1, 0.9, 1.0, decision, decision == "exit")


def outcome(exit_index, degraded=False):
    usages = [MemberUsage("t0", "a", "T4", 0.002, True)]
    traces = [trace(0, "exit" if exit_index == 0 else "escalate")]
    if exit_index == 1:
        usages.append(MemberUsage("t1", "b", "A100-40GB", 0.001, True))
        traces.append(trace(1, "exit"))
    return ImageOutcome(
        1, 0.9, f"t{exit_index}", exit_index, traces, 5.0,
        record_from_usage(usages, PRICES), degraded=degraded,
    )


def test_counts_exits_escalations_and_cost():
    stats = StatsAggregator([("t0", "T4"), ("t1", "A100-40GB")])
    stats.record_outcomes([outcome(0), outcome(1), outcome(1, degraded=True)])
    stats.record_response(200, 10.0)
    stats.record_response(415)
    stats.record_response(503)
    snap = stats.snapshot()
    assert snap.images == 3 and snap.degraded == 1
    assert snap.requests == 3
    assert snap.responses_by_status == {"2xx": 1, "4xx": 1, "5xx": 1}
    t0, t1 = snap.tiers
    assert (t0.images_in, t0.exits, t0.escalations) == (3, 1, 2)
    assert t0.escalation_rate == pytest.approx(2 / 3)
    assert (t1.images_in, t1.exits, t1.escalations) == (2, 2, 0)
    assert snap.device_seconds_by_gpu_class == pytest.approx({"T4": 0.006, "A100-40GB": 0.002})
    # 0.006 x 0.001 + 0.002 x 0.01 = 2.6e-5 for 3 predictions -> 8.667e-3 per 1k
    assert snap.usd_total == pytest.approx(2.6e-5)
    assert snap.usd_per_1k_predictions == pytest.approx(2.6e-5 / 3 * 1000)
    assert snap.latency_ms.count == 1 and snap.latency_ms.p50_ms == pytest.approx(10.0)
    assert snap.emulated and "EMULATED" in snap.note


def test_empty_stats_have_no_rates():
    snap = StatsAggregator([("t0", "T4")]).snapshot()
    assert snap.requests == 0 and snap.usd_per_1k_predictions is None
    assert snap.tiers[0].escalation_rate is None and snap.latency_ms.p99_ms is None


def test_latency_ring_is_bounded_and_keeps_the_latest():
    ring = LatencyRing(capacity=4)
    for value in [1000.0, 1000.0, 1.0, 2.0, 3.0, 4.0]:
        ring.add(value)
    assert len(ring) == 4
    assert ring.percentiles([50, 100]) == pytest.approx([2.5, 4.0])


def test_live_batch_size_per_member_is_images_over_batches():
    # Member a ran 3 images in one batch of 2 and one batch of 1: mean batch 1.5.
    usages = [
        [MemberUsage("t0", "a", "T4", 0.001, True, batch_size=2)],
        [MemberUsage("t0", "a", "T4", 0.001, True, batch_size=2)],
        [MemberUsage("t0", "a", "T4", 0.002, True, batch_size=1)],
    ]
    stats = StatsAggregator([("t0", "T4")])
    stats.record_outcomes([
        ImageOutcome(1, 0.9, "t0", 0, [trace(0, "exit")], 5.0, record_from_usage(u, PRICES))
        for u in usages
    ])
    assert stats.snapshot().batch_size_by_member == pytest.approx({"t0/a": 1.5})
