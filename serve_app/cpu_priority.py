"""CPU priority of the members' threads when GPU classes are emulated on shared cores.

In production a member's device work runs on its own GPU and never competes with the head
node's HTTP proxy and ingress, nor with a replica that is starting. On one CPU machine it
does. These helpers give each kind of work the share of the cores it would have had on a
GPU cluster: the front door first, then the members' forward passes (nice 19), then backup
work and replicas that are starting (Linux SCHED_IDLE, only CPU time nobody else wants).
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CPU_NICE_ENV = "COE_MEMBER_NICE"
BACKUP_IDLE_ENV = "COE_BACKUP_SCHED_IDLE"  # "0": backup threads get nice 19 like members
START_IDLE_ENV = "COE_MEMBER_START_IDLE"  # "0": a starting replica keeps Ray's priority


def backup_runs_idle() -> bool:
    """Whether backup threads (`lower_cpu_priority(idle=True)`) get SCHED_IDLE here."""
    return os.environ.get(BACKUP_IDLE_ENV, "1") != "0" and hasattr(os, "SCHED_IDLE")


def lower_cpu_priority(idle: bool = False) -> None:
    """On CPU emulation, run the calling thread (a forward pass) at the lowest priority.

    In production the members' device work runs on GPU nodes and never competes with the
    head node's HTTP proxy and ingress. On one CPU machine it does, and a starved proxy
    queues requests BEFORE Serve's admission control can shed them (unbounded latency
    under overload). The lowest priority (nice 19 vs Ray's 15 for workers) restores the
    intended split: front door first, models get the cycles left. Linux niceness is per
    thread, so this runs in each forward thread. COE_MEMBER_NICE=0 disables it.

    `idle=True` is for backup work (the collage CNN), which on a GPU cluster has its own
    device or a low-priority CUDA stream: the thread goes to Linux SCHED_IDLE, the CPU
    analogue, and runs only on CPU time no normal thread wants (nice 19 if that fails or
    COE_BACKUP_SCHED_IDLE=0).
    """
    if getattr(_THREAD_STATE, "lowered", False):
        return
    _THREAD_STATE.lowered = True
    tid = threading.get_native_id()
    if idle and backup_runs_idle():
        try:
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            return
        except OSError:
            pass
    try:
        target = member_nice()
        if target > 0:
            os.setpriority(os.PRIO_PROCESS, tid, target)
    except (OSError, AttributeError):
        pass  # a priority hint only; never fail a replica over it


def member_nice() -> int:
    """The forward threads' nice level: COE_MEMBER_NICE (default 19, at most 19; 0 turns
    lowering off). A value that is not an integer counts as the default: a hint only."""
    try:
        return min(int(os.environ.get(CPU_NICE_ENV, "19")), 19)
    except ValueError:
        return 19


_THREAD_STATE = threading.local()


def _thread_ids() -> list[int]:
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        return []


def lower_process_priority() -> int:
    """On CPU emulation, put every thread of this process at the forward threads' nice 19.

    For a backup replica (the collage deployment): on a GPU cluster it has its own device,
    but on shared cores its request handling (Ray's default worker nice 15) would outrank
    the members' forward passes (nice 19) exactly when both start on the same images.
    Threads started later inherit the level. Returns how many threads were lowered.
    """
    target = member_nice()
    lowered = 0
    if target <= 0:
        return lowered
    for tid in _thread_ids():
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < target:
                os.setpriority(os.PRIO_PROCESS, tid, target)
                lowered += 1
        except OSError:
            continue  # a thread that ended, or no permission: a hint only
    return lowered


def start_idle_enabled() -> bool:
    """Whether a starting replica runs at SCHED_IDLE here: Linux, lowering not turned off
    (COE_MEMBER_NICE=0 or COE_MEMBER_START_IDLE=0), and root, because only a privileged
    thread may leave SCHED_IDLE for its old priority again (below RLIMIT_NICE)."""
    return (hasattr(os, "SCHED_IDLE") and member_nice() > 0
            and os.environ.get(START_IDLE_ENV, "1") != "0" and os.geteuid() == 0)


# runtime_env fields that choose the worker's interpreter: a launcher must not replace it
INTERPRETER_FIELDS = ("pip", "uv", "conda", "py_executable", "container", "image_uri")


def idle_launch_runtime_env(app_runtime_env: dict | None = None) -> dict:
    """A member deployment's `runtime_env` that launches its worker process at SCHED_IDLE
    (Ray's public `py_executable`, here `chrt --idle 0 python`), or {} when the start-up
    does not run idle. Why: Python, Ray and Serve start in a new replica's process before
    its constructor runs (about 1.5 CPU-s, measured), at Ray's worker nice 15, above the
    serving replicas' forward passes; the constructor hands every thread its priority back
    (`starting_at_idle_priority`). Evaluated where the app is built, which is a node of the
    cluster, so the interpreter path is the cluster's own. Nothing when the app's own
    `app_runtime_env` picks the interpreter (pip, conda, a container...): the launcher would
    bypass it."""
    chrt = shutil.which("chrt")
    if not start_idle_enabled() or chrt is None:
        return {}
    if any(field in (app_runtime_env or {}) for field in INTERPRETER_FIELDS):
        return {}
    return {"py_executable": f"{chrt} --idle 0 {sys.executable}"}


def _to_normal_policy(tid: int, policy: int, nice: int) -> None:
    if os.sched_getscheduler(tid) == os.SCHED_IDLE:
        os.sched_setscheduler(tid, policy, os.sched_param(0))
        os.setpriority(os.PRIO_PROCESS, tid, nice)


@dataclass(frozen=True)
class StartPriority:
    """How a replica's start-up ran: at SCHED_IDLE, and whether its process was launched so."""

    ran_idle: bool
    launched_idle: bool = False


def threads_at_idle() -> int:
    """How many threads of this process run at SCHED_IDLE (a serving member: none)."""
    count = 0
    for tid in _thread_ids():
        try:
            count += os.sched_getscheduler(tid) == os.SCHED_IDLE
        except OSError:
            continue
    return count


@contextmanager
def starting_at_idle_priority() -> Iterator[StartPriority]:
    """Run a replica's start-up (torch import, weights, calibration: about 1.5 CPU-s) at
    SCHED_IDLE, then give the thread back its priority. Why: a replica that replaces a
    killed one starts while its peers serve; at Ray's worker nice 15 its start-up outranks
    their forward passes (nice 19) on the shared cores, where on a GPU cluster it would not
    touch their devices. Threads started meanwhile (they inherit SCHED_IDLE) get the same
    priority back. A process launched idle (`idle_launch_runtime_env`) has every thread
    idle already: all of them leave SCHED_IDLE at the end, each keeping its nice level.
    A process launched idle always leaves it, even where the idle start-up is off here.
    Yields how it ran (`StartPriority`)."""
    tid = threading.get_native_id()
    launched_idle = hasattr(os, "SCHED_IDLE") and os.sched_getscheduler(tid) == os.SCHED_IDLE
    if not (start_idle_enabled() or launched_idle):
        yield StartPriority(ran_idle=False)
        return
    try:
        policy = os.SCHED_OTHER if launched_idle else os.sched_getscheduler(tid)
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        before = set() if launched_idle else set(_thread_ids())
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        yield StartPriority(ran_idle=False)
        return
    try:
        yield StartPriority(ran_idle=True, launched_idle=launched_idle)
    finally:
        for other in {tid} | (set(_thread_ids()) - before):
            try:
                level = os.getpriority(os.PRIO_PROCESS, other) if launched_idle else nice
                _to_normal_policy(other, policy, level)
            except OSError:
                continue  # a thread that ended: nothing to give back
