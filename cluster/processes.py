"""Find and stop exactly the process trees we started (never `ray stop`, never by name).

Each node runs as `ray start --block` in its own session (start_new_session=True), so its
GCS/raylet/dashboard/workers are either its descendants or at least members of its
session. A recorded (pid, create_time) pair guards against PID reuse.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import psutil

CREATE_TIME_TOLERANCE_S = 0.05


def process_create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _is_live(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def owned_root(pid: int | None, create_time: float | None) -> psutil.Process | None:
    """The recorded process if it still runs and is the same process (not a reused PID)."""
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        if create_time is not None and abs(process.create_time() - create_time) > (
            CREATE_TIME_TOLERANCE_S
        ):
            return None
    except psutil.Error:
        return None
    return process if _is_live(process) else None


def session_members(session_id: int) -> list[psutil.Process]:
    """Live processes of session `session_id` (ours: the session was created for our node)."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session_id and _is_live(process):
                members.append(process)
        except (OSError, psutil.Error):
            continue
    return members


def owned_tree(pid: int | None, create_time: float | None) -> list[psutil.Process]:
    """The root (first), its descendants and the rest of its session, if the root is ours.

    When the root is gone, leftovers of its session are still found via the session id
    (= the root pid, because the root was started as a session leader).
    """
    found: dict[int, psutil.Process] = {}
    root = owned_root(pid, create_time)
    if root is not None:
        found[root.pid] = root
        try:
            for child in root.children(recursive=True):
                if _is_live(child):
                    found[child.pid] = child
        except psutil.Error:
            pass
    if pid is not None and (root is not None or process_create_time(pid) is None):
        for member in session_members(pid):
            found.setdefault(member.pid, member)
    rest = sorted(
        (process for process in found.values() if root is None or process.pid != root.pid),
        key=lambda process: process.pid,
    )
    return ([root] if root is not None else []) + rest


def live_pids(processes: list[psutil.Process]) -> list[int]:
    return [process.pid for process in processes if _is_live(process)]


def _signal(process: psutil.Process, signum: int) -> None:
    with contextlib.suppress(psutil.Error):
        process.send_signal(signum)


def wait_gone(processes: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until none of `processes` lives (zombies count as gone); return survivors."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [process for process in processes if _is_live(process)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.2)


def stop_trees(
    trees: list[list[psutil.Process]], grace_s: float = 30.0
) -> tuple[list[int], list[int]]:
    """SIGTERM each tree's root (Ray then shuts its node down), SIGKILL what outlives `grace_s`.

    Returns (pids that exited after SIGTERM, pids that needed SIGKILL).
    """
    everyone = [process for tree in trees for process in tree]
    for tree in trees:
        if tree:
            _signal(tree[0], signal.SIGTERM)
    survivors = wait_gone(everyone, grace_s)
    survivor_pids = {process.pid for process in survivors}
    for process in survivors:
        _signal(process, signal.SIGKILL)
    wait_gone(survivors, 10.0)
    terminated = [process.pid for process in everyone if process.pid not in survivor_pids]
    return terminated, sorted(survivor_pids)
