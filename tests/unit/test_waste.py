"""Honest billing: work that ran is billed whether or not its result was used."""

import asyncio

import numpy as np
import pytest

from serve_app.member_result import MemberResult
from serve_app.runner import CascadeRunner, TierPlan
from serve_app.stats import StatsAggregator
from serve_app.waste import WasteMeter, WorkTicket


def test_abandoned_after_the_batch_ran_is_waste_once():
    meter = WasteMeter()
    ticket = WorkTicket()
    meter.ran(ticket, 0.004)
    meter.abandon(ticket)
    meter.abandon(ticket)
    assert meter.take() == pytest.approx(0.004) and meter.take() == 0.0
    assert meter.total == pytest.approx(0.004)


def test_abandoned_during_the_batch_is_waste_when_it_finishes():
    meter = WasteMeter()
    ticket = WorkTicket()
    meter.abandon(ticket)
    assert meter.take() == 0.0
    meter.ran(ticket, 0.002)
    assert meter.take() == pytest.approx(0.002)


def test_abandoned_before_it_ran_is_not_billed():
    meter = WasteMeter()
    meter.abandon(WorkTicket())
    meter.ran(WorkTicket(), 0.003)  # another image, delivered
    assert meter.total == 0.0


def result(probs, wasted=0.0, seconds=0.001):
    return MemberResult(np.asarray(probs, np.float32), seconds, seconds, 1, True,
                        wasted_device_seconds=wasted)


def test_runner_reports_piggybacked_and_unusable_work_as_waste():
    wasted: list = []

    async def carries_waste(image):
        return result([0.9, 0.1], wasted=0.5)

    async def wrong_shape(image):
        return result([0.2, 0.3, 0.5], seconds=0.25)

    tier = TierPlan("t", 0, "T4", "agreement", 1.0, "vote", ("a", "b"),
                    (carries_waste, wrong_shape), min_members=1)
    runner = CascadeRunner([tier], 2, {"T4": 1.0}, on_waste=lambda g, s: wasted.append((g, s)))
    (out,) = asyncio.run(runner.run([np.zeros((2, 2))]))
    assert out.label == 0 and out.cost.device_seconds == pytest.approx(0.001)  # used only
    assert sorted(wasted) == [("T4", pytest.approx(0.25)), ("T4", pytest.approx(0.5))]


def test_stats_separate_used_and_wasted_and_count_client_closed():
    stats = StatsAggregator([("t", "T4")], prices={"T4": 2.0})
    stats.record_wasted("T4", 0.25)
    stats.record_client_closed()
    snap = stats.snapshot()
    assert snap.wasted_device_seconds_by_gpu_class == {"T4": 0.25}
    assert snap.wasted_usd_by_gpu_class == {"T4": pytest.approx(0.5)}
    assert snap.billed_usd_total == pytest.approx(snap.usd_total + 0.5)
    assert snap.client_closed == 1 and snap.responses_by_status["5xx"] == 0
