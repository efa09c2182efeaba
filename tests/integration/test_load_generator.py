"""The load driver against a stub ASGI app on 127.0.0.1 (no Ray): schedules are kept and every
request sent is counted exactly once, including 503s, malformed bodies, timeouts and refusals.
Also drives `coe load` and the Locust file headless against the same stub."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from load_tests.client.generator import run_load
from load_tests.client.images import RequestImage
from load_tests.client.schedules import closed, poisson, step

REPO = Path(__file__).resolve().parents[2]
PORTS = range(18300, 18350)
SLOW_S = 3.0


def _stub_module():
    spec = importlib.util.spec_from_file_location(
        "coe_stub_app", REPO / "tests" / "fixtures" / "stub_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port(exclude: set[int] = frozenset()) -> int:
    for port in PORTS:
        if port in exclude:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18300-18349")


@pytest.fixture(scope="module")
def stub_url():
    with _stub_module().serve_in_thread(_free_port(), slow_s=SLOW_S) as url:
        yield url


@pytest.fixture(scope="module")
def images():
    """Six small bodies with labels 0..2; the stub always answers label 0."""
    return [RequestImage(index=i, path=f"img{i}", body=b"\xff\xd8fake%d" % i, label=i % 3,
                         class_name=str(i % 3)) for i in range(6)]


def _accounted(summary):
    return summary.sent == summary.answered + summary.errors + summary.timeouts


def test_poisson_schedule_is_kept(stub_url, images):
    schedule = poisson(40, seed=11)
    planned = schedule.arrival_times(3.0, 1000)
    result = run_load(f"{stub_url}/v1/classify", images, schedule, max_requests=1000,
                      max_seconds=3.0, timeout_s=2.0, progress=False)
    s = result.summary
    assert s.sent == len(planned)
    assert s.sent == pytest.approx(schedule.expected_requests(3.0), rel=0.25)
    lag = np.array([r.t_send for r in result.records]) - planned
    assert np.median(lag) < 0.05 and lag.max() < 0.5  # sent when the schedule said
    assert _accounted(s) and s.ok == s.sent and s.status_counts == {"200": s.sent}
    expected_accuracy = sum(1 for r in result.records if r.label == 0) / s.sent
    assert s.accuracy == pytest.approx(expected_accuracy)
    assert s.exits_per_tier["t0"] + s.exits_per_tier["t1"] == s.sent
    assert s.cost.emulated and s.cost.attributed_usd_per_1k > 0
    assert s.cost.server_reported_usd_per_1k == pytest.approx(s.cost.attributed_usd_per_1k)


def test_step_schedule_shape_and_time_bound(stub_url, images):
    schedule = step([(10, 1.5), (40, 1.5)], seed=2)
    started = time.monotonic()
    result = run_load(f"{stub_url}/v1/classify", images, schedule, max_requests=10_000,
                      max_seconds=60, timeout_s=2.0, progress=False)
    assert time.monotonic() - started < 1.5 + 1.5 + 2.0 + 1.0  # the schedule's own end
    sends = np.array([r.t_send for r in result.records])
    assert (sends < 1.5).sum() == pytest.approx(15, abs=12)
    assert (sends >= 1.5).sum() == pytest.approx(60, abs=24)
    assert _accounted(result.summary)


def test_closed_loop_honours_max_requests(stub_url, images):
    result = run_load(f"{stub_url}/v1/classify", images, closed(3), max_requests=25,
                      max_seconds=20, timeout_s=2.0, progress=False)
    s = result.summary
    assert s.sent == 25 and s.ok == 25 and _accounted(s)
    assert sorted(r.seq for r in result.records) == list(range(25))
    assert [r.image_index for r in result.records[:7]] == [0, 1, 2, 3, 4, 5, 0]


def test_503_malformed_and_timeouts_are_all_counted(stub_url, images):
    started = time.monotonic()
    result = run_load(f"{stub_url}/mixed/v1/classify", images, closed(4), max_requests=16,
                      max_seconds=10, timeout_s=0.5, progress=False)
    assert time.monotonic() - started < 10 + 0.5 + 2
    s = result.summary
    assert s.sent == 16 and _accounted(s)
    # The stub cycles ok, 503, slow (> timeout), malformed: four of each.
    assert s.ok == 4 and s.timeouts == 4 and s.bad_responses == 4
    assert s.status_counts == {"200": 8, "503": 4}
    errors = [r.error for r in result.records if r.status == 503]
    assert all(e == "overloaded: shed" for e in errors)
    assert all(r.latency_s < 0.5 + 0.3 for r in result.records if r.outcome == "timeout")


def test_retry_503_waits_out_retry_after_and_counts_the_retries(stub_url, images):
    url = f"{stub_url}/flaky/v1/classify"  # every third answer: 503, Retry-After 0.05 s
    plain = run_load(url, images, closed(1), max_requests=9, max_seconds=10, timeout_s=2.0,
                     progress=False)
    assert plain.summary.status_counts.get("503") == 3 and plain.summary.retries_after_503 == 0
    retried = run_load(url, images, closed(1), max_requests=9, max_seconds=10, timeout_s=2.0,
                       progress=False, retry_503=True)
    s = retried.summary
    assert s.sent == 9 and s.ok == 9 and s.status_counts == {"200": 9} and _accounted(s)
    assert s.retries_after_503 >= 4  # 13+ posts for 9 answers: every third one shed
    slow = [r for r in retried.records if r.retries_after_503]
    assert slow and all(r.latency_s >= 0.05 * r.retries_after_503 for r in slow)
    assert {r.shed_reason for r in slow} == {"overloaded: stub is shedding load"}
    assert all(r.shed_reason is None for r in retried.records if not r.retries_after_503)
    assert s.waited_503_reasons == {"overloaded: stub is shedding load": len(slow)}


def test_open_loop_timeouts_end_the_run(stub_url, images):
    result = run_load(f"{stub_url}/slow/v1/classify", images, poisson(20, seed=1),
                      max_requests=10, max_seconds=5, timeout_s=0.3, progress=False)
    s = result.summary
    assert s.sent == 10 and s.timeouts == 10 and s.ok == 0 and _accounted(s)


class _CountingSampler:
    """A replica sampler that reports one deployment at 2 replicas for the whole run."""

    def __init__(self):
        self.started = self.stopped = 0.0

    def start(self):
        self.started = time.time()

    def stop(self):
        from cost_model.provisioned import ReplicaSample

        self.stopped = time.time()
        return [ReplicaSample(t=self.started, deployment="d", replicas=2, gpu_class="T4",
                              gpu_fraction=0.5)]


def test_load_in_a_child_process_returns_every_record_and_costs_the_parents_sampler(
        stub_url, images):
    from load_tests.client.subprocess_load import run_load_in_child

    sampler = _CountingSampler()
    result = run_load_in_child(f"{stub_url}/v1/classify", images, poisson(20, seed=3),
                               max_requests=200, max_seconds=2.0, timeout_s=2.0,
                               progress=False, sampler=sampler)
    s = result.summary
    assert s.sent > 10 and s.ok == s.sent and _accounted(s)
    # the sampler ran here, around the child's whole load
    assert sampler.started <= result.started_at_unix < sampler.stopped
    assert len(result.replica_timeline) == 1
    assert result.provisioned is not None and result.provisioned.whole_gpu_usd > 0
    assert s.cost.provisioned_usd_per_1k is not None


def test_connection_refused_is_an_error_not_a_crash(images):
    port = _free_port()
    result = run_load(f"http://127.0.0.1:{port}/v1/classify", images, closed(2),
                      max_requests=6, max_seconds=5, timeout_s=1.0, progress=False)
    s = result.summary
    assert s.sent == 6 and s.errors == 6 and _accounted(s)
    assert "Cannot connect" in result.records[0].error


def test_coe_load_cli_writes_the_report(stub_url, tmp_path, capsys):
    from coe.cli import main

    out = tmp_path / "report"
    code = main(["load", "--url", f"{stub_url}/v1/classify", "--schedule", "poisson:30",
                 "--max-requests", "40", "--max-seconds", "5", "--images", "20",
                 "--out", str(out), "--json", "--no-progress"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["sent"] == 40 and printed["emulated"] is True
    for name in ("report.json", "report.md", "latency_cdf.png", "throughput.png",
                 "exits_per_tier.png", "cost_per_1k.png"):
        assert (out / name).stat().st_size > 0
    assert main(["load", "--url", f"{stub_url}/v1/classify", "--schedule", "fast:1"]) == 2


def test_locustfile_runs_headless_and_stops(stub_url, tmp_path):
    locust = Path(sys.executable).with_name("locust")
    if not locust.exists():
        pytest.skip("locust is not installed in this environment")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    started = time.monotonic()
    done = subprocess.run(
        [str(locust), "-f", str(REPO / "load_tests" / "client" / "locustfile.py"), "--headless",
         "-u", "2", "-r", "2", "-t", "3s", "--host", f"{stub_url}", "--coe-images", "20",
         "--json-file", str(tmp_path / "stats"), "--only-summary"],
        capture_output=True, text=True, timeout=90, cwd=tmp_path, env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert time.monotonic() - started < 60
    entries = json.loads((tmp_path / "stats.json").read_text())  # locust adds .json
    by_name = {(e["method"], e["name"]): e for e in entries}
    post = by_name[("POST", "/v1/classify")]
    assert post["num_requests"] > 0 and post["num_failures"] == 0
    exits = by_name[("EXIT", "t0")]["num_requests"] + by_name[("EXIT", "t1")]["num_requests"]
    assert exits == post["num_requests"]
    assert "accuracy" in done.stdout + done.stderr
