"""`coe chaos --soak 20m`: a long run at 0.7x capacity with faults on a schedule.

While a Poisson load at `load_factor` x measured capacity runs for the whole duration:
a member replica is killed every `kill_every_s` (2 min), a burst of bad inputs and pixel
bombs is sent every `burst_every_s` (1 min), and the resident memory (RSS) of the ingress
and member replica processes is sampled every `rss_every_s` (10 s). The verdict: no lost
request, no 5xx to bad input (which, like a real client, honours Retry-After: a 503 shed at
the door is retried, at most 3 times, and counted), RSS growth from minute 5 to the end
<= 10% for every process alive over that span, and every minute's p99 <= 2x the first
minute's. The load client runs in a spawned child process, so that the fault threads here
do not stall it. Figures are measured in the run; device time on CPU is emulated.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from typing import Any

import numpy as np

from load_tests.chaos.overload import p99_by_window

RSS_GROWTH_LIMIT = 0.10
MINUTE_P99_FACTOR = 2.0
RSS_FROM_S = 300.0
KILL_EFFECT_S = 10.0  # where a kill moves the tail: the first 10-s window after it (soak y)
OVERLOAD_RETRIES = 3  # bad inputs honour Retry-After like a real client; sheds are counted


def parse_duration(text: str) -> float:
    """Seconds of '20m', '90s', '1h' or a plain number of seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise ValueError(f"--soak {text!r}: expected a duration like 20m, 90s or 1h")
    value, unit = float(match.group(1)), match.group(2) or "s"
    seconds = value * {"s": 1, "m": 60, "h": 3600}[unit]
    if seconds <= 0:
        raise ValueError("--soak: the duration must be > 0")
    return seconds


def replica_pids(app: str) -> dict[str, int]:
    """'<deployment>#<pid>' -> PID of the app's Serve replica processes started under this
    driver (its private Ray's workers are its descendants; Ray titles them
    `ray::ServeReplica:<app>:<deployment>...`). No Ray state API: it needs the dashboard."""
    import psutil

    prefix = f"ray::ServeReplica:{app}:"
    out = {}
    for proc in psutil.Process(os.getpid()).children(recursive=True):
        try:
            title = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if title.startswith(prefix):
            deployment = title[len(prefix):].split(".")[0].split(" ")[0]
            out[f"{deployment}#{proc.pid}"] = proc.pid
    return out


def sample_rss(pids: dict[str, int]) -> dict[str, int]:
    import psutil

    out = {}
    for name, pid in pids.items():
        try:
            out[name] = psutil.Process(pid).memory_info().rss
        except psutil.Error:
            continue
    return out


def rss_growth(samples: list[tuple[float, dict[str, int]]], from_s: float) -> dict[str, dict]:
    """Per process alive from `from_s` to the last sample: RSS then, at the end, growth."""
    if not samples:
        return {}
    start = next((s for s in samples if s[0] >= from_s), None)
    if start is None:
        return {}
    end = samples[-1]
    out = {}
    for name, first in start[1].items():
        last = end[1].get(name)
        if last is None:
            continue  # killed (or restarted) during the span: not judged
        out[name] = {"rss_mb_from": round(first / 2**20, 1), "rss_mb_end": round(last / 2**20, 1),
                     "growth": round((last - first) / first, 4) if first else None}
    return out


def p99_by_minute(records, duration_s: float | None = None) -> list[dict[str, Any]]:
    """The client p99 of each minute, by send time. With `duration_s`, only the whole
    minutes of the soak: the load's last sends can fall just past its end (a "minute 20"
    of one request in a 20-minute soak), and a minute of a few requests is no p99."""
    ok = [r for r in records if r.ok]
    if not ok:
        return []
    out = []
    last = int(max(r.t_send for r in ok) // 60)
    if duration_s is not None:
        last = min(last, max(int(duration_s // 60) - 1, 0))
    for minute in range(last + 1):
        ms = [r.latency_s * 1000 for r in ok if minute * 60 <= r.t_send < (minute + 1) * 60]
        if ms:
            out.append({"minute": minute, "ok": len(ms),
                        "p99_ms": round(float(np.percentile(ms, 99)), 1)})
    return out


def tail_anatomy(records, send_window_s: float, window_s: float) -> list[dict[str, Any]]:
    """The client p99 per window, cut as the overload phase cuts it (p99_by_window), with
    the p99 inside the cascade (the answer's own latency_ms) and the share of answers that
    left after tier 0 beside it, to tell a wait in front of the cascade from slow or
    escalated work in it. A diagnosis aid, not judged."""
    groups: dict[int, list] = {}
    for r in records:
        if r.ok:
            groups.setdefault(int(r.t_send // window_s), []).append(r)
    out = []
    for window in p99_by_window(records, send_window_s, window_s):
        inside = groups[int(round(window["from_s"] / window_s))]
        server = [r.server_latency_ms for r in inside if r.server_latency_ms is not None]
        escalated = sum(1 for r in inside if (r.exit_tier_index or 0) > 0)
        out.append({**window,
                    "server_p99_ms": round(float(np.percentile(server, 99)), 1)
                    if server else None,
                    "escalated": round(escalated / len(inside), 4)})
    return out


def kill_impact(minutes: list[dict], windows: list[dict], kills_at_s: list[float],
                window_s: float = 10.0, effect_s: float = KILL_EFFECT_S) -> dict:
    """The median p99 of the minutes (and of the 10-s windows) that hold the middle of the
    first `effect_s` after a replica kill against the others': how much a kill moves the
    tail. A kill 0.3 s before a minute ends counts in the next one, where its effect lands.
    A diagnosis aid, not judged."""
    def split(rows, start_of, length):
        hit, rest = [], []
        for r in rows:
            holds = any(start_of(r) <= k + effect_s / 2 < start_of(r) + length
                        for k in kills_at_s)
            (hit if holds else rest).append(r["p99_ms"])
        with_kill = float(np.median(hit)) if hit else None
        without = float(np.median(rest)) if rest else None
        return {"with_kill_median_p99_ms": with_kill, "without_median_p99_ms": without,
                "with_kill": len(hit), "without": len(rest),
                "ratio": round(with_kill / without, 3) if with_kill and without else None}

    return {"minutes": split(minutes, lambda r: r["minute"] * 60.0, 60.0),
            "windows_10s": split(windows, lambda r: r["from_s"], window_s)}


def kill_anatomy(records, kills_at_s: list[float], before_s: float = 3.0,
                 after_s: float = 15.0, bin_s: float = 1.0) -> list[dict[str, Any]]:
    """Around every replica kill, the requests sent in each `bin_s` bin from `before_s`
    before it to `after_s` after: per bin offset, the median over the kills of the bin's
    p50 and max client latency (and of the latency inside the cascade), and the requests
    that failed. Tells a spike of the calls in flight at the kill (the first second) from
    a slow spell while the replacement starts (several seconds). Diagnosis, not judged."""
    bins: dict[int, list[tuple[float, float, float | None, int]]] = {}
    first, last = -int(round(before_s / bin_s)), int(round(after_s / bin_s))
    for kill in kills_at_s:
        per_bin: dict[int, list] = {}
        for r in records:
            offset = int(np.floor((r.t_send - kill) / bin_s))
            if first <= offset < last:
                per_bin.setdefault(offset, []).append(r)
        for offset, rows in per_bin.items():
            ok = [r.latency_s * 1000 for r in rows if r.ok]
            server = [r.server_latency_ms for r in rows if r.ok and r.server_latency_ms]
            if ok:
                bins.setdefault(offset, []).append(
                    (float(np.median(ok)), max(ok),
                     float(np.median(server)) if server else None,
                     sum(1 for r in rows if not r.ok)))
    out = []
    for offset in sorted(bins):
        rows = bins[offset]
        server = [s for _, _, s, _ in rows if s is not None]
        out.append({"from_s": round(offset * bin_s, 3), "kills": len(rows),
                    "p50_ms": round(float(np.median([p for p, _, _, _ in rows])), 1),
                    "max_ms": round(float(np.median([m for _, m, _, _ in rows])), 1),
                    "server_p50_ms": round(float(np.median(server)), 1) if server else None,
                    "failed": sum(f for _, _, _, f in rows)})
    return out


def onto_load_clock(samples: list[tuple[float, Any]], events: list[dict],
                    shift_s: float) -> list[tuple[float, Any]]:
    """Samples and events (`at_s`, changed in place) timed from the fault threads' start,
    moved onto the records' clock, which starts `shift_s` later (at the load's first send)."""
    for event in events:
        event["at_s"] = round(event["at_s"] - shift_s, 1)
    return [(t - shift_s, value) for t, value in samples]


def soak_verdict(lost: int, bad_5xx: int, growth: dict, minutes: list[dict]) -> dict:
    first = minutes[0]["p99_ms"] if minutes else None
    p99_ok = bool(minutes) and all(m["p99_ms"] <= MINUTE_P99_FACTOR * first for m in minutes)
    rss_ok = all(g["growth"] is not None and g["growth"] <= RSS_GROWTH_LIMIT
                 for g in growth.values())
    return {"requests_lost": lost, "bad_input_5xx": bad_5xx,
            "rss_judged_processes": len(growth), "rss_growth_ok": rss_ok,
            "minute_p99_ok": p99_ok,
            "ok": lost == 0 and bad_5xx == 0 and rss_ok and p99_ok and bool(growth)}


def run_soak_phases(app: str, base: str, config, images, targets, duration_s: float,
                    capacity_rps: float, load, say, load_factor: float = 0.7,
                    kill_every_s: float = 120.0, burst_every_s: float = 60.0,
                    rss_every_s: float = 10.0) -> dict[str, Any]:
    """The soak proper, on an app already deployed and warmed up."""
    import httpx

    from load_tests.chaos.attacks import bomb_body
    from load_tests.chaos.faults import (
        client_accounting,
        kill_replica,
        post_honouring_retry_after,
        probe_catalogue,
        run_probes,
    )
    from load_tests.chaos.host_speed import HostSpeedProbe, speed_by_minute

    url = base + "/v1/classify"
    stop = threading.Event()
    samples: list[tuple[float, dict[str, int]]] = []
    kills: list[dict] = []
    bursts: list[dict] = []
    limits = config.ingress
    probes = probe_catalogue(limits.max_images_per_request, limits.max_body_bytes,
                             limits.max_pixels)
    bomb = bomb_body()
    t0, t0_unix = time.monotonic(), time.time()

    def sampler() -> None:
        while not stop.is_set():
            samples.append((time.monotonic() - t0, sample_rss(replica_pids(app))))
            stop.wait(rss_every_s)

    def killer() -> None:
        k = 0
        while not stop.wait(kill_every_s):
            deployment, _ = targets[k % len(targets)]
            event = {"at_s": round(time.monotonic() - t0, 1), "deployment": deployment}
            try:
                event["actor"] = kill_replica(app, deployment, index=k)
            except Exception as exc:  # noqa: BLE001 - reported, not fatal
                event["error"] = f"{type(exc).__name__}: {exc}"
            kills.append(event)
            k += 1

    def burster() -> None:  # a well-behaved client: a shed (503 + Retry-After) is retried
        while not stop.wait(burst_every_s):
            shed: Counter = Counter()
            tallies = run_probes(url, probes, rounds=1, overload_retries=OVERLOAD_RETRIES,
                                 shed=shed)
            statuses: dict[str, int] = {}
            for tally in tallies.values():
                for status, n in tally.statuses.items():
                    statuses[str(status)] = statuses.get(str(status), 0) + n
            with httpx.Client(timeout=60) as client:
                for _ in range(3):
                    try:
                        code = str(post_honouring_retry_after(
                            client, url, OVERLOAD_RETRIES, shed, content=bomb,
                            headers={"content-type": "application/json"}).status_code)
                    except httpx.HTTPError as exc:
                        code = type(exc).__name__
                    statuses[f"bomb:{code}"] = statuses.get(f"bomb:{code}", 0) + 1
            bursts.append({"at_s": round(time.monotonic() - t0, 1), "statuses": statuses,
                           "shed_503_then_retried": shed["503"]})

    jobs = [sampler] + [job for job, every in ((killer, kill_every_s), (burster, burst_every_s))
                        if every > 0]  # 0: that fault is off (a baseline soak)
    threads = [threading.Thread(target=f, daemon=True) for f in jobs]
    for thread in threads:
        thread.start()
    rate = load_factor * capacity_rps
    say(f"soak: {rate:.1f} req/s for {duration_s:.0f} s, "
        + (f"a replica kill every {kill_every_s:.0f} s, " if kill_every_s > 0 else "no kills, ")
        + (f"bad inputs + pixel bombs every {burst_every_s:.0f} s" if burst_every_s > 0
           else "no bursts"))
    probe = HostSpeedProbe().start()
    try:
        result = load(url, images, f"poisson:{rate:.3f}", duration_s)
    finally:
        speed_samples = probe.stop()
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    # The fault threads' clock starts here; the records' at the load's first send (later,
    # when the load runs in a spawned child): put kills, bursts and samples on the latter.
    samples[:] = onto_load_clock(samples, kills + bursts, result.started_at_unix - t0_unix)
    books = client_accounting(result.records)
    bad_5xx = sum(n for b in bursts for s, n in b["statuses"].items()
                  if s.removeprefix("bomb:").isdigit() and int(s.removeprefix("bomb:")) >= 500)
    unanswered = sum(n for b in bursts for s, n in b["statuses"].items()
                     if not s.removeprefix("bomb:").isdigit() or s.removeprefix("bomb:") == "0")
    minutes = p99_by_minute(result.records, duration_s)
    windows = tail_anatomy(result.records, duration_s, 10.0)
    growth = rss_growth(samples, min(RSS_FROM_S, duration_s / 4))
    return {
        "note": "CPU-only machine: GPU classes are EMULATED; all figures measured in this run",
        "duration_s": round(duration_s, 1), "offered_rps": result.summary.offered_rps,
        "kill_every_s": kill_every_s, "burst_every_s": burst_every_s,
        "capacity_rps": round(capacity_rps, 2), "load_factor": load_factor,
        "status_counts": result.summary.status_counts, "client_accounting": books,
        "replica_kills": kills, "bad_input_bursts": bursts,
        "rss_from_s": min(RSS_FROM_S, duration_s / 4), "rss_growth": growth,
        "rss_samples": [{"t_s": round(t, 1), "rss_mb": {k: round(v / 2**20, 1)
                                                        for k, v in rss.items()}}
                        for t, rss in samples],
        "bad_input_shed_503_then_retried": sum(b["shed_503_then_retried"] for b in bursts),
        "p99_by_minute": minutes,
        # Where inside the minutes the tail sits (kills at `replica_kills[].at_s`, bursts
        # at `bad_input_bursts[].at_s`): a diagnosis aid, not judged.
        "p99_by_10s": windows,
        "kill_impact": kill_impact(minutes, windows, [k["at_s"] for k in kills]),
        "kill_anatomy": kill_anatomy(result.records, [k["at_s"] for k in kills]),
        # Whether the host itself slowed: a fixed work unit's CPU time per minute.
        "host_speed_by_minute": speed_by_minute(speed_samples, result.started_at_unix,
                                                duration_s),
        "verdict": soak_verdict(books["lost"] + unanswered, bad_5xx, growth, minutes),
    }
