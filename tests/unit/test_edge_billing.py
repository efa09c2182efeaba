"""A request that starts at tier k runs and bills only tiers >= k; stats keep it apart."""

import asyncio

import pytest

from serve_app.edge_stats import TrafficSplit
from serve_app.runner import CascadeRunner, TierTrace
from serve_app.stats import StatsAggregator
from tests.unit.test_runner import NUM_CLASSES, PRICES, FakeMember, image, tier


def three_tier(members):
    gpus = ["T4", "T4", "A100-40GB"]
    tiers = [tier(i, f"t{i}", gpus[i], group) for i, group in enumerate(members)]
    return CascadeRunner(tiers, NUM_CLASSES, PRICES)


def test_start_tier_runs_and_bills_only_the_later_tiers():
    t0, t1, t2 = [FakeMember(0), FakeMember(1)], [FakeMember(0), FakeMember(2)], [FakeMember(3)]
    runner = three_tier([t0, t1, t2])
    (out,) = asyncio.run(runner.run([image(1, 2, 3, 3)], start_tier=1))
    assert [m.calls for m in t0] == [0, 0]  # the edge ran tier 0: never called here
    assert [t.tier for t in out.tiers] == ["t1", "t2"] and out.exit_tier == "t2"
    assert set(out.cost.device_seconds_by_tier) == {"t1", "t2"}
    # two t1 members on T4 + one t2 member on A100, 0.002 s each
    assert out.cost.usd == pytest.approx(2 * 0.002 * 0.001 + 0.002 * 0.01)
    (full,) = asyncio.run(three_tier([t0, t1, t2]).run([image(1, 2, 3, 3)]))
    assert full.cost.usd == pytest.approx(out.cost.usd + 2 * 0.002 * 0.001)
    assert (full.label, full.exit_tier) == (out.label, out.exit_tier)


def test_start_tier_at_the_last_tier_answers_there():
    runner = three_tier([[FakeMember(0)], [FakeMember(0)], [FakeMember(2)]])
    (out,) = asyncio.run(runner.run([image(1, 1, 2)], start_tier=2))
    assert (out.exit_tier, out.label) == ("t2", 2)
    assert [t.tier for t in out.tiers] == ["t2"]


def test_traffic_split_and_stats_leave_edge_traces_out():
    t0, t1 = [FakeMember(0), FakeMember(1)], [FakeMember(2)]
    runner = CascadeRunner([tier(0, "t0", "T4", t0), tier(1, "t1", "A100-40GB", t1)],
                           NUM_CLASSES, PRICES)
    full = asyncio.run(runner.run([image(1, 2, 3), image(2, 2, 0)]))
    edge = asyncio.run(runner.run([image(1, 2, 3)], start_tier=1))
    edge[0].tiers.insert(0, TierTrace("t0", 0, {"m0": 1, "m1": 2}, 1, None, 0.5, "escalate",
                                      False, site="edge"))
    split = TrafficSplit()
    split.record(0, full)
    split.record(1, edge)
    snap = split.snapshot()
    assert snap["full_cascade"].images == 2 and snap["edge_escalated"].images == 1
    assert snap["full_cascade"].exits_by_tier == {"t1": 1, "t0": 1}
    assert snap["edge_escalated"].exits_by_tier == {"t1": 1}
    assert snap["edge_escalated"].usd_total == pytest.approx(0.002 * 0.01)
    assert snap["full_cascade"].usd_total == pytest.approx(4 * 0.002 * 0.001 + 0.002 * 0.01)
    stats = StatsAggregator([("t0", "T4"), ("t1", "A100-40GB")])
    stats.record_outcomes(full + edge)
    t0_stats, t1_stats = stats.snapshot().tiers
    assert (t0_stats.images_in, t0_stats.escalations) == (2, 1)  # the edge's tier 0 not here
    assert (t1_stats.images_in, t1_stats.exits) == (2, 2)
