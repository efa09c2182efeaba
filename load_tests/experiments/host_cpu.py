"""Where the shared host's CPU goes while a live benchmark runs, by process role.

On this CPU-only machine the load client, Serve's proxy, the ingress, the members and Ray's
own processes share the same cores. The live autoscale check compares the simulator with
the live step; to see whether a latency gap comes from the host's load, the CPU that each
kind of process spent is sampled over time (psutil, this process and its descendants) and
summed per step phase, process by process (a replica that stops or starts inside a
phase counts for what it spent there). `role_of` and `cpu_by_window` are pure and unit-tested.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

CLIENT = "load_client_and_driver"
ROLES = (CLIENT, "proxy", "ingress", "members", "serve_controller", "ray_system")


def role_of(title: str, is_self: bool) -> str:
    """The role of a process from its title (Ray sets `ray::ServeReplica:<app>:<deployment>`
    and `ray::ProxyActor`); this process is the Ray driver, and the load client runs in it
    or in a spawned child."""
    if is_self or "multiprocessing" in title:  # the load client, in a spawned child
        return CLIENT
    if "ProxyActor" in title:
        return "proxy"
    if "ServeReplica" in title:
        return "ingress" if "CascadeIngress" in title else "members"
    if "ServeController" in title:
        return "serve_controller"
    return "ray_system"


ProcessKey = tuple[int, float]  # (pid, create time): a pid can be reused


def sample_cpu_by_process() -> dict[ProcessKey, tuple[str, float]]:
    """(role, CPU seconds user + system so far) of this process and each descendant."""
    import psutil

    me = psutil.Process()
    out = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            title = " ".join(proc.cmdline()) if proc is not me else ""
            key = (proc.pid, proc.create_time())
        except psutil.Error:
            continue
        out[key] = (role_of(title, proc is me), times.user + times.system)
    return out


def sample_cpu_by_role() -> dict[str, float]:
    """CPU seconds spent so far by this process and its live descendants, per role."""
    out = dict.fromkeys(ROLES, 0.0)
    for role, cpu in sample_cpu_by_process().values():
        out[role] += cpu
    return out


def cpu_by_window(samples: Sequence[tuple[float, Mapping[ProcessKey, tuple[str, float]]]],
                  windows: Mapping[str, tuple[float, float]],
                  requests: Mapping[str, int], cores: float) -> dict:
    """Per named window (start, end): CPU seconds per role between the first and the last
    sample inside it, the busy cores, the host's utilisation and the CPU per request.

    Per process: its last value in the window minus its first, or minus 0 if it first
    appears after the window's first sample (it started inside the window). A process
    that exits inside the window keeps what it had at its last sample."""
    out = {}
    for name, (lo, hi) in windows.items():
        inside = [s for s in samples if lo <= s[0] <= hi]
        if len(inside) < 2:
            out[name] = None
            continue
        t0, t1 = inside[0][0], inside[-1][0]
        first_seen: dict[ProcessKey, float] = {}
        last_seen: dict[ProcessKey, tuple[str, float]] = {}
        for i, (_, procs) in enumerate(inside):
            for key, (role, cpu) in procs.items():
                first_seen.setdefault(key, cpu if i == 0 else 0.0)
                last_seen[key] = (role, cpu)
        by_role = dict.fromkeys(ROLES, 0.0)
        for key, (role, cpu) in last_seen.items():
            by_role[role] = by_role.get(role, 0.0) + max(0.0, cpu - first_seen[key])
        total = sum(by_role.values())
        seconds = t1 - t0
        n = requests.get(name, 0)
        out[name] = {
            "seconds": seconds,
            "cpu_seconds_by_role": by_role,
            "busy_cores": total / seconds if seconds > 0 else None,
            "utilisation": total / seconds / cores if seconds > 0 else None,
            "requests": n,
            "cpu_ms_per_request_by_role": (
                {r: v / n * 1000.0 for r, v in by_role.items()} if n else None),
            "cpu_ms_per_request": total / n * 1000.0 if n else None,
        }
    return out


class HostCpuSampler:
    """A background thread that records (wall time, CPU seconds per role) every interval."""

    def __init__(self, interval_s: float = 1.0):
        self.interval_s = interval_s
        self.samples: list[tuple[float, dict[ProcessKey, tuple[str, float]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="host-cpu-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), sample_cpu_by_process()))
            self._stop.wait(self.interval_s)

    def start(self) -> HostCpuSampler:
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, dict[ProcessKey, tuple[str, float]]]]:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.samples.append((time.time(), sample_cpu_by_process()))
        return self.samples
