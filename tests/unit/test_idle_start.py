"""Replica start-up under SCHED_IDLE, and back to normal scheduling afterwards."""

import os
import threading

from serve_app.idle_start import IDLE_START_ENV, idle_start, idle_start_applies


def _policy() -> int:
    return os.sched_getscheduler(threading.get_native_id())


def test_the_body_runs_idle_and_the_thread_returns_to_its_policy():
    before = _policy()
    with idle_start() as idle:
        inside = _policy()
    assert _policy() == before
    if idle_start_applies():  # root on a CPU-only Linux machine (CI, these machines)
        assert idle and inside == os.SCHED_IDLE
    else:
        assert not idle and inside == before


def test_an_error_in_the_body_still_restores_the_policy():
    before = _policy()
    try:
        with idle_start():
            raise RuntimeError("model failed to load")
    except RuntimeError:
        pass
    assert _policy() == before


def test_it_can_be_turned_off(monkeypatch):
    monkeypatch.setenv(IDLE_START_ENV, "0")
    before = _policy()
    with idle_start() as idle:
        assert not idle and _policy() == before
