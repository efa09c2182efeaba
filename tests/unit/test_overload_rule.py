"""The rule `coe chaos` uses to call an overload's admitted p99 bounded."""

from __future__ import annotations

import pytest

from load_tests.chaos.overload import admitted_p99_bound_ms, p99_bounded, p99_by_window
from load_tests.client.records import RequestRecord


def _ok(t_send: float, latency_s: float, seq: int = 0) -> RequestRecord:
    return RequestRecord(seq=seq, image_index=0, label=0, t_send=t_send, latency_s=latency_s,
                         outcome="answered", status=200, ok=True)


def _shed(t_send: float) -> RequestRecord:
    return RequestRecord(seq=0, image_index=0, label=0, t_send=t_send, latency_s=0.01,
                         outcome="answered", status=503)


def test_bound_is_littles_law_with_slack():
    # 16 ahead at 32 req/s = 0.5 s, plus a 300 ms service p99, times 2
    assert admitted_p99_bound_ms(16, 32.0, 300.0) == pytest.approx(1600.0)
    with pytest.raises(ValueError, match="admitted_rps"):
        admitted_p99_bound_ms(16, 0.0, 300.0)


def test_windows_use_send_time_count_only_2xx_and_mark_the_partial_tail():
    records = [_ok(t / 10, 0.2 + (t >= 100) * 1.0) for t in range(250)] + [_shed(1.0)]
    windows = p99_by_window(records, send_window_s=25.0)
    assert [w["from_s"] for w in windows] == [0.0, 10.0, 20.0]
    assert [w["ok"] for w in windows] == [100, 100, 50]
    assert windows[0]["p99_ms"] == pytest.approx(200.0)
    assert windows[1]["p99_ms"] == pytest.approx(1200.0)
    assert [w["full"] for w in windows] == [True, True, False]


def test_a_p99_that_creeps_up_in_one_window_is_not_bounded():
    steady = [{"from_s": 0.0, "ok": 300, "p99_ms": 700.0, "full": True},
              {"from_s": 10.0, "ok": 300, "p99_ms": 800.0, "full": True}]
    creeping = steady + [{"from_s": 20.0, "ok": 300, "p99_ms": 2700.0, "full": True}]
    assert p99_bounded(900.0, steady, bound_ms=1600.0)
    assert not p99_bounded(900.0, creeping, bound_ms=1600.0)
    assert not p99_bounded(1700.0, steady, bound_ms=1600.0)
    assert not p99_bounded(None, steady, bound_ms=1600.0)


def test_partial_or_sparse_windows_are_shown_but_not_judged():
    windows = [{"from_s": 0.0, "ok": 300, "p99_ms": 700.0, "full": True},
               {"from_s": 10.0, "ok": 5, "p99_ms": 9000.0, "full": True},
               {"from_s": 20.0, "ok": 300, "p99_ms": 9000.0, "full": False}]
    assert p99_bounded(900.0, windows, bound_ms=1600.0)
    assert not p99_bounded(900.0, windows[1:], bound_ms=1600.0)  # nothing left to judge
