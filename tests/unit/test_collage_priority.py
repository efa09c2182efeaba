"""The collage pass runs on CPU time the members leave idle (SCHED_IDLE), per thread."""

import os
import threading

from serve_app.collage_member import backup_cpu_priority
from serve_app.cpu_priority import BACKUP_IDLE_ENV


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


def test_the_backup_replica_lowers_every_thread_of_its_process():
    """Run in a child process: niceness cannot be raised back without root."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    # The worker is a daemon and is released in `finally`: an error in the script must end
    # it, not leave it waiting on a thread forever. A thread that ends between the listing
    # of /proc/self/task and the read of its level is skipped (imports start short ones).
    script = (
        "import json, os, threading\n"
        "from serve_app.cpu_priority import lower_process_priority\n"
        "started, stop = threading.Event(), threading.Event()\n"
        "def worker():\n"
        "    started.set(); stop.wait()\n"
        "t = threading.Thread(target=worker, daemon=True); t.start(); started.wait()\n"
        "def level(tid):\n"
        "    try:\n"
        "        return os.getpriority(os.PRIO_PROCESS, int(tid))\n"
        "    except OSError:\n"
        "        return None\n"
        "try:\n"
        "    lowered = lower_process_priority()\n"
        "    late = {}\n"
        "    def later():\n"
        "        late['nice'] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())\n"
        "    u = threading.Thread(target=later); u.start(); u.join()\n"
        "    levels = {level(tid) for tid in os.listdir('/proc/self/task')} - {None}\n"
        "finally:\n"
        "    stop.set(); t.join()\n"
        "print(json.dumps([lowered, sorted(levels), late['nice']]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env={**os.environ, "COE_MEMBER_NICE": "19"},
                         cwd=Path(__file__).resolve().parents[2],  # the repo: serve_app
                         timeout=120)
    lowered, levels, late = json.loads(out.stdout)
    assert lowered >= 2  # the main thread and the one already running
    assert levels == [19]  # every thread now at the forward threads' level
    assert late == 19  # a thread started afterwards inherits it


def test_the_nice_level_is_a_hint_that_never_fails(monkeypatch):
    from serve_app.cpu_priority import CPU_NICE_ENV, member_nice

    for raw, level in (("0", 0), ("12", 12), ("25", 19), ("high", 19)):
        monkeypatch.setenv(CPU_NICE_ENV, raw)
        assert member_nice() == level
