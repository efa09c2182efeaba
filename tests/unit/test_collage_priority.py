"""The collage pass runs on CPU time the members leave idle (SCHED_IDLE), per thread."""

import os
import threading

from serve_app.collage_member import backup_cpu_priority
from serve_app.member import BACKUP_IDLE_ENV


def _policy_after(setup) -> int:
    seen = {}

    def body() -> None:
        setup()
        seen["policy"] = os.sched_getscheduler(threading.get_native_id())

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    return seen["policy"]


def test_the_collage_thread_runs_idle_and_the_caller_is_untouched():
    before = os.sched_getscheduler(threading.get_native_id())
    assert _policy_after(backup_cpu_priority) == os.SCHED_IDLE
    assert os.sched_getscheduler(threading.get_native_id()) == before


def test_turned_off_it_falls_back_to_normal_scheduling(monkeypatch):
    monkeypatch.setenv(BACKUP_IDLE_ENV, "0")
    assert _policy_after(backup_cpu_priority) == os.SCHED_OTHER
