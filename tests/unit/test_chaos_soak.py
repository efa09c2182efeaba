"""The soak's pure parts (durations, RSS growth, per-minute p99, the verdict) and a baseline run."""

import time

import pytest

from load_tests.chaos.overload import p99_by_window
from load_tests.chaos.soak import (
    kill_anatomy,
    kill_impact,
    p99_by_minute,
    parse_duration,
    rss_growth,
    soak_verdict,
    tail_anatomy,
)
from load_tests.client.records import RequestRecord


def test_parse_duration():
    assert parse_duration("20m") == 1200 and parse_duration("90s") == 90
    assert parse_duration("1h") == 3600 and parse_duration("45") == 45
    with pytest.raises(ValueError, match="duration like 20m"):
        parse_duration("soon")


def test_rss_growth_judges_processes_alive_over_the_span_only():
    mb = 2**20
    samples = [(0.0, {"a": 100 * mb}), (300.0, {"a": 100 * mb, "b": 50 * mb}),
               (600.0, {"a": 108 * mb, "c": 10 * mb})]
    growth = rss_growth(samples, from_s=300.0)
    assert set(growth) == {"a"} and growth["a"]["growth"] == pytest.approx(0.08)


def record(seq, t_send, ms):
    return RequestRecord(seq=seq, image_index=0, label=0, t_send=t_send, latency_s=ms / 1000,
                         outcome="answered", status=200, ok=True)


def test_minute_p99_and_verdict():
    records = [record(i, i * 6.0, 100 + (50 if i >= 10 else 0)) for i in range(20)]
    minutes = p99_by_minute(records)
    assert [m["minute"] for m in minutes] == [0, 1] and minutes[1]["p99_ms"] == 150.0
    growth = {"a": {"growth": 0.05}}
    assert soak_verdict(0, 0, growth, minutes)["ok"]
    assert not soak_verdict(1, 0, growth, minutes)["ok"]
    assert not soak_verdict(0, 0, {"a": {"growth": 0.2}}, minutes)["ok"]
    slow = minutes + [{"minute": 2, "ok": 5, "p99_ms": 250.0}]
    assert not soak_verdict(0, 0, growth, slow)["minute_p99_ok"]


def test_a_send_just_past_the_soaks_end_is_no_minute_of_its_own():
    records = [record(i, i * 6.0, 100.0) for i in range(20)] + [record(20, 120.2, 900.0)]
    assert [m["minute"] for m in p99_by_minute(records)] == [0, 1, 2]
    judged = p99_by_minute(records, duration_s=120.0)
    assert [m["minute"] for m in judged] == [0, 1]
    assert soak_verdict(0, 0, {"a": {"growth": 0.0}}, judged)["minute_p99_ok"]


def test_ten_second_windows_locate_the_tail_and_skip_empty_windows():
    records = [record(0, 1.0, 100), record(1, 5.0, 100), record(2, 25.0, 400)]
    windows = p99_by_window(records, send_window_s=30.0, window_s=10.0)
    assert [(w["from_s"], w["ok"], w["p99_ms"]) for w in windows] == [
        (0.0, 2, 100.0), (20.0, 1, 400.0)]


def test_a_shed_with_retry_after_is_retried_and_counted_and_a_4xx_is_final(monkeypatch):
    from collections import Counter

    import httpx

    from load_tests.chaos import faults

    waits = []
    monkeypatch.setattr(faults.time, "sleep", waits.append)

    class Reply:
        def __init__(self, status, headers=None):
            self.status_code, self.headers = status, httpx.Headers(headers or {})

    class Client:
        def __init__(self, replies):
            self.replies, self.calls = list(replies), 0

        def post(self, url, **request):
            self.calls += 1
            return self.replies.pop(0)

    shed = Counter()
    client = Client([Reply(503, {"retry-after": "1"}), Reply(422)])
    assert faults.post_honouring_retry_after(client, "u", 3, shed).status_code == 422
    assert client.calls == 2 and shed["503"] == 1
    no_header = Client([Reply(503), Reply(200)])  # a 503 without Retry-After is final
    assert faults.post_honouring_retry_after(no_header, "u", 3, shed).status_code == 503
    always = Client([Reply(503, {"retry-after": "1"})] * 3)
    assert faults.post_honouring_retry_after(always, "u", 2, shed).status_code == 503
    assert always.calls == 3 and shed["503"] == 3
    # the load generator's rule (load_tests.client.retry): Retry-After is the floor of
    # the first wait (1 s +50% jitter), the second is drawn around twice that
    assert 1.0 <= waits[-2] <= 1.5 and 1.0 <= waits[-1] <= 3.0


def test_tail_anatomy_splits_the_wait_in_front_from_the_time_inside():
    records = [record(i, float(i), 300) for i in range(4)]
    for i, r in enumerate(records):
        r.server_latency_ms = 50.0
        r.exit_tier_index = 1 if i == 0 else 0
    (window,) = tail_anatomy(records, send_window_s=10.0, window_s=10.0)
    assert window["p99_ms"] == 300.0 and window["server_p99_ms"] == 50.0
    assert window["escalated"] == 0.25


def test_a_baseline_soak_kills_nothing_and_sends_no_bursts(monkeypatch):
    """--soak-kill-every 0 --soak-burst-every 0: only the load and the RSS sampler run."""
    from types import SimpleNamespace

    from cascade.config import IngressConfig
    from load_tests.chaos import faults, soak

    calls = []

    def forbidden(*args, **kwargs):
        calls.append(args)
        raise AssertionError("a baseline soak must not kill or probe")

    monkeypatch.setattr(faults, "kill_replica", forbidden)
    monkeypatch.setattr(faults, "run_probes", forbidden)
    monkeypatch.setattr(soak, "replica_pids", lambda app: {})
    records = [record(i, i * 0.5, 100.0) for i in range(240)]

    def load(url, images, spec, seconds):
        time.sleep(0.3)  # long enough for a kill or a burst thread to fire, were they on
        return SimpleNamespace(records=records, started_at_unix=time.time() - 0.3,
                               summary=SimpleNamespace(offered_rps=2.0, status_counts={"200": 240}))

    report = soak.run_soak_phases(
        "app", "http://127.0.0.1:1", SimpleNamespace(ingress=IngressConfig()), [], [], 120.0,
        capacity_rps=3.0, load=load, say=lambda text: None, kill_every_s=0, burst_every_s=0,
        rss_every_s=0.05)
    assert calls == [] and report["replica_kills"] == [] and report["bad_input_bursts"] == []
    assert report["kill_every_s"] == 0 and report["burst_every_s"] == 0
    assert report["verdict"]["minute_p99_ok"]


def test_capacity_after_gives_the_load_factor_of_both_readings():
    from load_tests.chaos.run import capacity_after

    out = capacity_after(offered_rps=28.0, start_rps=40.0, end_rps=32.0)
    assert out["capacity_rps"] == 32.0
    assert out["start_over_end"] == 1.25
    assert out["load_factor_of_start"] == 0.7
    assert out["load_factor_of_end"] == 0.875
    assert capacity_after(28.0, 40.0, None)["load_factor_of_end"] is None


def test_no_wait_for_recovery_without_a_kill():
    from load_tests.chaos.run import _wait_last_kill_recovered

    assert _wait_last_kill_recovered([], {"tier0-cnn_a": 2}) is None
    assert _wait_last_kill_recovered([{"at_s": 120.0, "deployment": "tier0-cnn_a",
                                       "error": "RuntimeError: no live replica"}],
                                     {"tier0-cnn_a": 2}) is None


def test_kill_impact_compares_the_minutes_and_windows_that_hold_a_kill_with_the_rest():
    minutes = [{"minute": m, "p99_ms": p} for m, p in enumerate((100, 300, 110, 330, 90))]
    windows = [{"from_s": 10.0 * w, "p99_ms": 500.0 if w in (6, 18) else 100.0}
               for w in range(30)]
    impact = kill_impact(minutes, windows, kills_at_s=[60.0, 185.0])
    assert impact["minutes"] == {"with_kill_median_p99_ms": 315.0,
                                 "without_median_p99_ms": 100.0, "with_kill": 2,
                                 "without": 3, "ratio": 3.15}
    assert impact["windows_10s"]["with_kill"] == 2
    assert impact["windows_10s"]["with_kill_median_p99_ms"] == 300.0  # 60 s and 190 s
    # a kill 0.3 s before a boundary counts after it, where its effect lands
    late = kill_impact(minutes, windows, kills_at_s=[59.7, 179.7])
    assert late["minutes"]["with_kill_median_p99_ms"] == 315.0  # minutes 1 and 3
    assert late["windows_10s"]["with_kill_median_p99_ms"] == 500.0  # windows 60 and 180
    none = kill_impact(minutes, windows, kills_at_s=[])
    assert none["minutes"]["with_kill"] == 0 and none["minutes"]["ratio"] is None


def test_kills_bursts_and_samples_move_onto_the_clock_of_a_load_that_started_later():
    """The soak's load runs in a spawned child, which starts sending after the fault
    threads' clock began: a kill 120 s into that clock is 118.5 s into the records'."""
    from load_tests.chaos.soak import onto_load_clock

    kills, bursts = [{"at_s": 120.0}], [{"at_s": 60.2}]
    samples = onto_load_clock([(0.0, {"a": 1}), (10.0, {"a": 2})], kills + bursts, 1.5)
    assert kills == [{"at_s": 118.5}] and bursts == [{"at_s": 58.7}]
    assert samples == [(-1.5, {"a": 1}), (8.5, {"a": 2})]


def test_kill_anatomy_lines_up_the_seconds_around_every_kill():
    # kills at 10 s and 30 s; the second after each is slow (400 ms), the rest 100 ms
    records = []
    for i in range(400):
        t = i * 0.1
        slow = any(k <= t < k + 1 for k in (10.0, 30.0))
        records.append(record(i, t, 400 if slow else 100))
    records.append(RequestRecord(seq=999, image_index=0, label=0, t_send=10.5, latency_s=2.0,
                                 outcome="error", ok=False))
    rows = {row["from_s"]: row for row in kill_anatomy(records, [10.0, 30.0], 2.0, 3.0)}
    assert sorted(rows) == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert rows[0.0]["kills"] == 2 and rows[0.0]["max_ms"] == 400 and rows[0.0]["failed"] == 1
    assert rows[-1.0]["max_ms"] == 100 and rows[1.0]["p50_ms"] == 100
    assert kill_anatomy(records, []) == []
