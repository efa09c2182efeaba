"""The parts of a member call and of a request: serve_app.call_anatomy and its stats view."""

from __future__ import annotations

import numpy as np
import pytest

from serve_app.call_anatomy import (
    MEMBER_CALL_PARTS,
    REQUEST_PARTS,
    AnatomyRing,
    member_call_parts_ms,
)
from serve_app.member_result import MemberResult
from serve_app.stats import StatsAggregator


def result(sent=100.0, arrived=100.002, started=100.010, ended=100.015, received=100.016,
           source="member") -> MemberResult:
    return MemberResult(probs=np.full(10, 0.1, dtype=np.float32), device_seconds=0.001,
                        cpu_seconds=0.004, batch_size=1, emulated=True, source=source,
                        sent_at=sent, arrived_at=arrived, forward_started_at=started,
                        forward_ended_at=ended, received_at=received)


def test_a_stamped_call_splits_into_its_four_parts():
    parts = member_call_parts_ms(result())
    assert parts == pytest.approx((2.0, 8.0, 5.0, 1.0), abs=1e-6)
    assert len(parts) == len(MEMBER_CALL_PARTS)


def test_a_call_without_every_stamp_has_no_parts():
    assert member_call_parts_ms(result(sent=0.0)) is None
    assert member_call_parts_ms(result(received=0.0)) is None
    assert member_call_parts_ms(object()) is None


def test_the_tail_names_the_part_that_grew():
    ring = AnatomyRing(("hop", "work"), capacity=1000)
    for i in range(990):
        ring.add((1.0, 10.0 + (i % 10) * 0.1))
    for _ in range(10):  # the slowest 1%: the hop is slow, the work is not
        ring.add((200.0, 10.0))
    summary = ring.summary()
    assert summary["count"] == 1000 and summary["tail_calls"] >= 10
    assert summary["median_ms"]["hop"] == pytest.approx(1.0)
    assert summary["tail_ms"]["hop"] == pytest.approx(200.0)
    assert summary["tail_ms"]["work"] == pytest.approx(10.0)
    assert summary["total_p99_ms"] > summary["total_p50_ms"]


def test_the_ring_keeps_only_the_latest_samples_and_checks_their_shape():
    ring = AnatomyRing(("a",), capacity=3)
    assert ring.summary() is None
    for value in (100.0, 1.0, 1.0, 1.0):
        ring.add((value,))
    assert len(ring) == 3 and ring.summary()["total_p99_ms"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="expected 1 parts"):
        ring.add((1.0, 2.0))
    with pytest.raises(ValueError, match="capacity"):
        AnatomyRing(("a",), capacity=0)


def test_stats_report_requests_and_each_members_calls():
    stats = StatsAggregator([("tier0", "L4")])
    stats.record_member_call("tier0", "cnn_a", result())
    stats.record_member_call("tier0", "cnn_a", result(source="collage", sent=0.0))  # unstamped
    stats.record_request_parts(3.0, 20.0, 0.5)
    anatomy = stats.snapshot().anatomy
    assert anatomy.requests.count == 1
    assert set(anatomy.requests.median_ms) == set(REQUEST_PARTS)
    assert anatomy.requests.median_ms["cascade"] == pytest.approx(20.0)
    calls = anatomy.member_calls["tier0/cnn_a"]
    assert calls.count == 1 and calls.median_ms["queue"] == pytest.approx(8.0, abs=1e-6)
