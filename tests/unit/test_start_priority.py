"""A replica's start-up runs at SCHED_IDLE and gives every thread its priority back."""

import os
import shutil
import sys
import threading

import pytest

from serve_app.cpu_priority import (
    START_IDLE_ENV,
    idle_launch_runtime_env,
    start_idle_enabled,
    starting_at_idle_priority,
)

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
            seen["idle"] = idle.ran_idle
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
            return idle.ran_idle, os.sched_getscheduler(0)

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


def test_a_process_launched_idle_leaves_it_on_every_thread_keeping_each_nice(monkeypatch):
    """What `chrt --idle 0 python` hands the constructor: every thread already idle."""
    monkeypatch.delenv(START_IDLE_ENV, raising=False)

    def body():
        sibling_ready, release, seen = threading.Event(), threading.Event(), {}

        def sibling():  # one of Ray's threads, launched idle at nice 15 (as Ray's main)
            os.setpriority(os.PRIO_PROCESS, 0, 15)
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            sibling_ready.set()
            release.wait(10)
            seen["sibling"] = (os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0))

        other = threading.Thread(target=sibling)
        other.start()
        sibling_ready.wait(10)
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        with starting_at_idle_priority() as start:
            seen["idle"] = (start.ran_idle, start.launched_idle)
        release.set()
        other.join(10)
        return seen, os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0), nice

    seen, after, nice_after, nice_before = _in_a_thread(body)
    assert seen["idle"] == (True, True)
    assert after == os.SCHED_OTHER and nice_after == nice_before
    assert seen["sibling"] == (os.SCHED_OTHER, 15)


def test_member_processes_are_launched_idle_through_chrt(monkeypatch):
    monkeypatch.delenv(START_IDLE_ENV, raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    env = idle_launch_runtime_env()
    assert env == {"py_executable": f"/usr/bin/chrt --idle 0 {sys.executable}"}


def test_no_idle_launch_when_turned_off_or_without_chrt(monkeypatch):
    monkeypatch.setenv(START_IDLE_ENV, "0")
    assert idle_launch_runtime_env() == {}
    monkeypatch.delenv(START_IDLE_ENV)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert idle_launch_runtime_env() == {}


def test_no_idle_launch_when_the_app_picks_its_interpreter(monkeypatch):
    """A launcher would bypass the app's pip/conda/container interpreter: leave it alone."""
    monkeypatch.delenv(START_IDLE_ENV, raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    assert idle_launch_runtime_env({"pip": ["requests"]}) == {}
    assert idle_launch_runtime_env({"conda": "env"}) == {}
    assert idle_launch_runtime_env({"env_vars": {"A": "1"}})["py_executable"].startswith(
        "/usr/bin/chrt --idle 0 ")


def test_a_process_launched_idle_leaves_it_even_when_turned_off_here(monkeypatch):
    """The builder and the replica may read different settings: never stay idle."""
    monkeypatch.setenv(START_IDLE_ENV, "0")

    def body():
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        with starting_at_idle_priority() as start:
            pass
        return start.launched_idle, os.sched_getscheduler(0)

    assert _in_a_thread(body) == (True, os.SCHED_OTHER)
