"""The host's own speed through a soak: the CPU time a fixed piece of work takes.

On a shared VM the work a CPU-second buys moves by itself: a soak with no faults at all broke
the per-minute p99 rule while every process, the members included, paid about 30% more CPU
per request, and a fresh deployment afterwards was no faster (docs/BENCHMARKS.md section 4,
soaks aj and ak). This probe puts that in the report. A spawned process times a fixed
pure-Python loop and a fixed pass over a 32 MB array every few seconds, by its own thread
CPU time, which does not count the time it waits for a core: measured on this machine, the
loop took 12.9 ms idle and 13.1-13.2 ms with one or two spinning processes filling the other
core, and the array pass 5.3 ms idle and 5.0 ms beside a process streaming the same size of
array. It is not blind to our load, though: in a 3-minute soak the array pass read 6.5-7.8
ms (sharing its core's caches with the app's processes between time slices). So compare
minutes of one soak, at one offered load, not soaks. A diagnosis, not judged.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from typing import Any

import numpy as np

LOOP_ITERATIONS = 300_000
STREAM_ELEMENTS = 4_000_000  # float64: 32 MB, past the caches


def _loop_unit() -> int:
    total = 0
    for i in range(LOOP_ITERATIONS):
        total += i * i
    return total


def _cpu_ms(work) -> float:
    start = time.thread_time()
    work()
    return (time.thread_time() - start) * 1000.0


def _probe(stop, samples, every_s: float) -> None:
    """Child process: one sample (wall time, loop CPU ms, stream CPU ms) every `every_s`."""
    source = np.ones(STREAM_ELEMENTS)
    target = np.empty_like(source)
    while not stop.is_set():
        loop_ms = _cpu_ms(_loop_unit)
        stream_ms = _cpu_ms(lambda: np.add(source, 1.0, out=target))
        samples.put((time.time(), round(loop_ms, 3), round(stream_ms, 3)))
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

    def stop(self) -> list[tuple[float, float, float]]:
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
        return sorted(out)


def speed_by_minute(samples: list[tuple[float, float, float]], start_unix: float,
                    duration_s: float) -> list[dict[str, Any]]:
    """Per whole minute of the load: the median CPU ms of each unit, and that over minute
    0's (above 1: the same work cost the host more CPU time than in minute 0)."""
    minutes: dict[int, list[tuple[float, float]]] = {}
    for at, loop_ms, stream_ms in samples:
        minute = int((at - start_unix) // 60)
        if 0 <= minute < max(int(duration_s // 60), 1):
            minutes.setdefault(minute, []).append((loop_ms, stream_ms))
    if 0 not in minutes:
        return []
    first = np.median(np.array(minutes[0]), axis=0)
    out = []
    for minute in sorted(minutes):
        loop_ms, stream_ms = np.median(np.array(minutes[minute]), axis=0)
        out.append({"minute": minute, "samples": len(minutes[minute]),
                    "loop_cpu_ms": round(float(loop_ms), 2),
                    "stream_cpu_ms": round(float(stream_ms), 2),
                    "loop_over_minute0": round(float(loop_ms / first[0]), 3),
                    "stream_over_minute0": round(float(stream_ms / first[1]), 3)})
    return out
