"""The host's own speed through a soak: the CPU time a fixed piece of work takes.

On a shared VM the work a CPU-second buys moves by itself: a soak with no faults at all
broke the per-minute p99 rule while every process, the members included, paid about a
quarter more CPU per answered request, and a fresh deployment afterwards was no faster
(docs/BENCHMARKS.md section 4, soaks aj and ak). This probe puts that in the report. A
spawned process times a fixed pure-Python loop and a fixed pass over a 32 MB array every few
seconds, by its own thread CPU time, which does not count the time it waits for a core:
measured on this machine, the loop took 12.9 ms idle and 13.1-13.2 ms with one or two
spinning processes filling the other core, and the array pass 5.3 ms idle and 5.0 ms beside
a process streaming the same size of array. It is not blind to our load, though: in a
3-minute soak the array pass read 6.5-7.8 ms (probably from sharing its core's caches with
the app's processes between time slices). So compare minutes of one soak, at one offered
load, not soaks. A diagnosis, not judged.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from typing import Any

import numpy as np

LOOP_ITERATIONS = 300_000
STREAM_ELEMENTS = 4_000_000  # float64: 32 MB, past the caches
VMSTAT_COUNTERS = ("pgmajfault", "workingset_refault_file")


def _loop_unit() -> int:
    total = 0
    for i in range(LOOP_ITERATIONS):
        total += i * i
    return total


def _cpu_ms(work) -> float:
    start = time.thread_time()
    work()
    return (time.thread_time() - start) * 1000.0


def host_counters() -> dict[str, int]:
    """Cumulative host counters of paging and I/O stalls. This VM reclaims memory on its
    own (a DAMON `pageout` scheme, with 20 GB free), so code pages of our processes can be
    evicted and read back (`workingset_refault_file`, major faults) while we serve; the
    I/O pressure stall total says how long every task waited on that. Empty off Linux."""
    counters: dict[str, int] = {}
    try:
        with open("/proc/vmstat") as vmstat:
            for line in vmstat:
                name, value = line.split()
                if name in VMSTAT_COUNTERS:
                    counters[name] = int(value)
        with open("/proc/pressure/io") as pressure:
            for line in pressure:
                kind, *fields = line.split()
                total = dict(field.split("=") for field in fields)["total"]
                counters[f"io_{kind}_stall_us"] = int(total)
    except OSError:
        pass
    return counters


def _probe(stop, samples, every_s: float) -> None:
    """Child process: one sample (wall time, loop CPU ms, stream CPU ms, host counters)
    every `every_s`."""
    source = np.ones(STREAM_ELEMENTS)
    target = np.empty_like(source)
    while not stop.is_set():
        loop_ms = _cpu_ms(_loop_unit)
        stream_ms = _cpu_ms(lambda: np.add(source, 1.0, out=target))
        samples.put((time.time(), round(loop_ms, 3), round(stream_ms, 3), host_counters()))
        stop.wait(every_s)


class HostSpeedProbe:
    """Start before the load, stop after it; `stop()` returns the samples."""

    def __init__(self, every_s: float = 5.0) -> None:
        context = multiprocessing.get_context("spawn")  # the caller is a Ray driver
        self._stop = context.Event()
        self._samples = context.Queue()
        self._process = context.Process(target=_probe, daemon=True,
                                        args=(self._stop, self._samples, every_s))

    def start(self) -> HostSpeedProbe:
        self._process.start()
        return self

    def stop(self) -> list[tuple]:
        self._stop.set()
        out = []
        deadline = time.monotonic() + 10.0
        while self._process.is_alive() or not self._samples.empty():
            try:
                out.append(self._samples.get(timeout=0.2))
            except queue.Empty:
                if time.monotonic() > deadline:
                    break
        self._process.join(timeout=5.0)
        if self._process.is_alive():
            self._process.terminate()
        return out  # one producer: already in time order


def speed_by_minute(samples: list[tuple], start_unix: float,
                    duration_s: float) -> list[dict[str, Any]]:
    """Per whole minute of the load: the median CPU ms of each unit, and that over minute
    0's (above 1: the same work cost the host more CPU time than in minute 0), and how much
    each host counter grew in the minute: from the previous minute's last sample (minute 0:
    from its own first one) to this minute's last."""
    minutes: dict[int, list[tuple]] = {}
    for sample in sorted(samples, key=lambda s: s[0]):
        minute = int((sample[0] - start_unix) // 60)
        if 0 <= minute < max(int(duration_s // 60), 1):
            minutes.setdefault(minute, []).append(sample)
    if 0 not in minutes:
        return []
    first = np.median(np.array([s[1:3] for s in minutes[0]]), axis=0)
    previous = minutes[0][0][3]
    out = []
    for minute in sorted(minutes):
        rows = minutes[minute]
        loop_ms, stream_ms = np.median(np.array([s[1:3] for s in rows]), axis=0)
        last = rows[-1][3]
        out.append({"minute": minute, "samples": len(rows),
                    "loop_cpu_ms": round(float(loop_ms), 2),
                    "stream_cpu_ms": round(float(stream_ms), 2),
                    "loop_over_minute0": round(float(loop_ms / first[0]), 3),
                    "stream_over_minute0": round(float(stream_ms / first[1]), 3),
                    "host_counters_delta": {k: v - previous[k] for k, v in last.items()
                                            if k in previous}})
        previous = last
    return out
