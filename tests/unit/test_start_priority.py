"""A replica's start-up runs at SCHED_IDLE and gives every thread its priority back."""

import os
import threading

import pytest

from serve_app.cpu_priority import START_IDLE_ENV, start_idle_enabled, starting_at_idle_priority

pytestmark = pytest.mark.skipif(
    not hasattr(os, "SCHED_IDLE") or os.geteuid() != 0,
    reason="SCHED_IDLE and leaving it again need Linux and root (CI runs as root)")


def _in_a_thread(body):
    """Run `body` in a fresh thread, so the test never changes pytest's own thread."""
    out = {}

    def run():
        out["value"] = body()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=30)
    return out["value"]


def test_the_start_up_runs_idle_and_every_thread_gets_its_priority_back(monkeypatch):
    monkeypatch.delenv(START_IDLE_ENV, raising=False)

    def body():
        tid = threading.get_native_id()
        nice_before = os.getpriority(os.PRIO_PROCESS, tid)
        seen = {}
        entered, release = threading.Event(), threading.Event()

        def child():
            seen["child_inside"] = os.sched_getscheduler(0)
            entered.set()
            release.wait(10)
            seen["child_after"] = os.sched_getscheduler(0)

        with starting_at_idle_priority() as idle:
            seen["idle"] = idle
            seen["inside"] = os.sched_getscheduler(tid)
            started = threading.Thread(target=child)
            started.start()
            entered.wait(10)
        release.set()
        started.join(10)
        return (seen, os.sched_getscheduler(tid), os.getpriority(os.PRIO_PROCESS, tid),
                nice_before)

    seen, after, nice_after, nice_before = _in_a_thread(body)
    assert seen["idle"] is True
    assert seen["inside"] == os.SCHED_IDLE and seen["child_inside"] == os.SCHED_IDLE
    assert after == os.SCHED_OTHER and seen["child_after"] == os.SCHED_OTHER
    assert nice_after == nice_before


def test_the_start_up_keeps_its_priority_when_turned_off(monkeypatch):
    monkeypatch.setenv(START_IDLE_ENV, "0")
    assert not start_idle_enabled()

    def body():
        with starting_at_idle_priority() as idle:
            return idle, os.sched_getscheduler(0)

    assert _in_a_thread(body) == (False, os.SCHED_OTHER)


def test_an_error_in_the_start_up_still_gives_the_priority_back(monkeypatch):
    monkeypatch.delenv(START_IDLE_ENV, raising=False)

    def body():
        try:
            with starting_at_idle_priority():
                raise RuntimeError("weights missing")
        except RuntimeError:
            return os.sched_getscheduler(0)

    assert _in_a_thread(body) == os.SCHED_OTHER
