"""Calibrating the live autoscaling check: pure arithmetic, no Ray, unit-tested.

`coe bench autoscale --live` checks the simulator against a live step load. Both the
simulator and the live application-level policy size replicas from the same load models,
and the one figure in them that is not measured by the profiler is the per-request host
time of a member replica (`MemberLoadModel.host_seconds_per_request`). This module turns a
short calibration phase against the deployed app into that figure, derives step rates from
it, and compares the live run with the simulation of the same trace.

How the host time is measured (`host_seconds_from_latency`): one client in a closed loop,
so there is never a queue and every member call runs at batch 1. For each answered request
the simulator's own latency formula (planner.cluster_sim) says

    latency = sum over the tiers it ran of (batch wait + call time at batch 1 + host + hop)

where the batch wait is the member's `batch_wait_timeout_s` (a lone request waits the whole
window), the call time is the profiler's measured CPU time of the slowest member of that
tier (the same `call_seconds` the load models carry) and the hop is the simulator's
per-tier Serve hop. Solving for `host` per request and taking the median gives the per-tier
time that is NOT the forward pass, the batch window or the hop. It is what the client sees
(end to end), so it includes the member's own Serve overhead (request (de)serialisation,
the event loop) and also the proxy's and the ingress's per-request work (HTTP, JPEG decode,
routing) attributed to the tiers the request passed. On this 2-core host those processes
share the cores the members run on, so counting their work against a replica's capacity is
the conservative reading; it is an upper bound on the member replica's own overhead.

How the step rates are derived (`derive_step_rates`): from the load model of the tier-0
members with the figure in use, r1 = the highest rate at which the policy keeps 1 replica
and r2 = the highest at which it keeps 2 (tier 0 sees every request). The low step is r1/2
(mid 1-replica band); the high step is the middle of the 2-replica band (r1, r2], capped at
`max_host_load` of what the host's cores can serve, measured as the CPU-seconds the whole
process tree (load client, proxy, ingress, members, Ray) spent per request in the
calibration, above its idle draw. If the cap falls at or below r1, the high step cannot
need a second replica without saturating the host, and the derivation says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from cascade.autoscale_policy import MemberLoadModel, replicas_for_rate

PHASES = ("low", "high", "low_again")
TOLERANCE = 0.25
# the high step must clear r1 by this much: at 1.05 (the first choice) a live run stayed at
# one replica while the simulation scaled (Poisson noise and the look-back both straddle r1)
SCALE_UP_MARGIN = 1.25


def tier_fixed_seconds(tiers: Sequence[Sequence[MemberLoadModel]], hop_s: float) -> list[float]:
    """Per tier: the latency the load model gives a lone request apart from host time
    (batch wait + the slowest member's call at batch 1 + one hop)."""
    out = []
    for members in tiers:
        if not members:
            raise ValueError("a tier without members")
        out.append(max(m.batch_wait_timeout_s + m.call_seconds[0] for m in members) + hop_s)
    return out


def host_seconds_from_latency(samples: Sequence[tuple[float, int]],
                              fixed_s: Sequence[float], stretch: float = 1.0) -> dict:
    """Median per-tier host time from requests sent at a low load.

    `samples`: (end-to-end latency in s, number of tiers the request ran) per answered
    request; `fixed_s`: `tier_fixed_seconds`; `stretch`: the simulator's shared-host stretch
    at the load the samples were taken at (latency = (fixed + host) x stretch there). A
    request's residual is its latency / stretch minus the fixed part of the tiers it ran,
    divided by those tiers; the figure is the median residual, floored at 0 (reported
    unfloored too)."""
    if stretch < 1.0:
        raise ValueError(f"a stretch below 1 ({stretch}) would make the host faster under load")
    residuals = []
    for latency_s, tiers in samples:
        if tiers < 1 or tiers > len(fixed_s):
            raise ValueError(f"a request ran {tiers} tiers; the cascade has {len(fixed_s)}")
        residuals.append((latency_s / stretch - sum(fixed_s[:tiers])) / tiers)
    if not residuals:
        raise ValueError("no answered calibration requests")
    median = statistics.median(residuals)
    return {
        "host_seconds_per_request": max(0.0, median),
        "median_residual_s": median,
        "requests": len(residuals),
        "p50_latency_s": statistics.median(s[0] for s in samples),
        "mean_tiers_ran": sum(s[1] for s in samples) / len(samples),
        "fixed_seconds_per_tier": list(fixed_s),
    }


def host_capacity(cpu_seconds: float, seconds: float, idle_cpu_per_s: float, requests: int,
                  cores: float) -> dict:
    """CPU-seconds per request above the idle draw, and the request rate the cores serve
    flat out at that cost (`cpu_seconds` spent over `seconds` while serving `requests`)."""
    if requests < 1 or seconds <= 0 or cores <= 0:
        raise ValueError("need requests >= 1, seconds > 0 and cores > 0")
    busy = max(cpu_seconds - idle_cpu_per_s * seconds, 1e-9)
    per_request = busy / requests
    spare = max(cores - idle_cpu_per_s, 0.0)
    return {"cpu_seconds_per_request": per_request, "idle_cpu_per_s": idle_cpu_per_s,
            "cores": cores, "host_capacity_rps": spare / per_request}


def cpu_per_request_above_idle(phase: Mapping | None, idle_cores: float) -> float | None:
    """CPU-seconds per request above `idle_cores` in one phase of `host_cpu.cpu_by_window`
    (None without requests or samples): what the host really paid per request there."""
    if not phase or not phase.get("requests"):
        return None
    busy = max(0.0, phase["busy_cores"] - idle_cores) * phase["seconds"]
    return busy / phase["requests"]


def measured_host_cpu_by_time(host_cpu_by_phase: Mapping, idle_cores: float,
                              seconds_each: float) -> tuple[tuple[float, float], ...] | None:
    """The simulator's `host_cpu_by_time` for a replay of a live step: each phase's CPU per
    request above `idle_cores` (`cpu_per_request_above_idle`), from the phase's start on.
    None unless every phase has a figure: a replay with a hole would mix in the calibration's."""
    schedule = []
    for i, phase in enumerate(PHASES):
        cpu = cpu_per_request_above_idle(host_cpu_by_phase.get(phase), idle_cores)
        if not cpu:
            return None
        schedule.append((i * seconds_each, cpu))
    return tuple(schedule)


def rate_boundary(members: Sequence[MemberLoadModel], replicas: int, headroom: float,
                  hi: float = 1e6) -> float:
    """The highest rate at which every member of `members` is sized at <= `replicas`
    (bisection; the sizing is monotone in the rate)."""
    def fits(rate: float) -> bool:
        return all(replicas_for_rate(m, rate, headroom) <= replicas for m in members)

    if not fits(1e-9):
        return 0.0
    if fits(hi):
        return hi
    lo = 0.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def headroom_for_scale_up(tier0: Sequence[MemberLoadModel], high_rps: float,
                          margin: float = SCALE_UP_MARGIN,
                          max_headroom: float = 100.0) -> float | None:
    """The smallest policy headroom at which `high_rps` is at least `margin` x r1, i.e. at
    which that rate needs a second tier-0 replica with room to spare; None if none up to
    `max_headroom` does."""
    def ok(headroom: float) -> bool:
        return rate_boundary(tier0, 1, headroom) * margin <= high_rps

    if high_rps <= 0 or not ok(max_headroom):
        return None
    if ok(1.0):
        return 1.0
    lo, hi = 1.0, max_headroom
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def derive_step_rates(tier0: Sequence[MemberLoadModel], headroom: float,
                      host_capacity_rps: float | None, max_host_load: float = 0.6) -> dict:
    """Low and high step rates from the tier-0 load models (see the module docstring)."""
    r1 = rate_boundary(tier0, 1, headroom)
    r2 = rate_boundary(tier0, 2, headroom)
    wanted_high = (r1 + r2) / 2
    cap = None if host_capacity_rps is None else max_host_load * host_capacity_rps
    high = wanted_high if cap is None else min(wanted_high, cap)
    low = r1 / 2
    scale_up = high >= r1 * SCALE_UP_MARGIN
    note = ("high = middle of the 2-replica band" if high == wanted_high else
            f"high capped at {max_host_load:g} x host capacity")
    suggested = None
    if not scale_up:
        note += ("; the cap is at or below r1: on this host the high step cannot need a "
                 "second tier-0 replica without saturating the cores")
        suggested = headroom_for_scale_up(tier0, high)
        if suggested is not None:
            note += f" (a policy headroom of {suggested:.2f} would put r1 at high / 1.25)"
    return {"r1_rps": r1, "r2_rps": r2, "wanted_high_rps": wanted_high,
            "host_cap_rps": cap, "max_host_load": max_host_load, "headroom": headroom,
            "headroom_for_scale_up": suggested,
            "low_rate": low, "high_rate": high, "high_needs_more_replicas": scale_up,
            "note": note}


def step_rates_that_scale(tier0: Sequence[MemberLoadModel], headroom: float,
                          host_capacity_rps: float | None, max_host_load: float) -> dict:
    """`derive_step_rates`, and if its high step cannot need a second tier-0 replica (a
    calibration that found the host time low puts r1 above the capped high step: run 38,
    docs/BENCHMARKS.md), derived again at the smallest headroom at which it does. The
    policy under test then uses `headroom_used`; the report says why it moved."""
    rates = derive_step_rates(tier0, headroom, host_capacity_rps, max_host_load)
    suggested = rates["headroom_for_scale_up"]
    if rates["high_needs_more_replicas"] or suggested is None:
        return {**rates, "headroom_used": headroom, "headroom_raised_from": None}
    again = derive_step_rates(tier0, suggested, host_capacity_rps, max_host_load)
    return {**again, "headroom_used": suggested, "headroom_raised_from": headroom,
            "note": f"{again['note']}; headroom raised from {headroom:g} to {suggested:.2f}: "
            f"at {headroom:g} the high step could not need a second tier-0 replica"}


def phase_of(t_s: float, seconds_each: float) -> str | None:
    """The step phase a time (seconds since the step began) falls in, None outside."""
    index = int(t_s // seconds_each) if t_s >= 0 else -1
    return PHASES[index] if 0 <= index < len(PHASES) else None


def p50_by_phase(samples: Sequence[tuple[float, float]], seconds_each: float) -> dict:
    """Median latency (ms) of the requests sent in each phase; samples: (t_send_s, ms)."""
    medians = p50_by_window(samples, len(PHASES) * seconds_each, seconds_each)
    return dict(zip(PHASES, medians, strict=True))


def p50_by_window(samples: Sequence[tuple[float, float]], total_s: float,
                  window_s: float = 10.0) -> list[float | None]:
    """Median latency (ms) of the requests sent in each `window_s` window of [0, total_s);
    samples: (t_send_s, ms). Shows where in a phase a gap to the simulation sits (the
    scale-up's first seconds, or all along)."""
    if window_s <= 0 or total_s <= 0:
        raise ValueError("window_s and total_s must be positive")
    count = int(round(total_s / window_s))
    per: list[list[float]] = [[] for _ in range(count)]
    for t, ms in samples:
        index = int(t // window_s) if t >= 0 else -1
        if 0 <= index < count:
            per[index].append(ms)
    return [statistics.median(v) if v else None for v in per]


def sim_p50_by_window(sim, total_s: float, window_s: float) -> list[float]:
    """The simulation's median latency (ms) of the requests answered in each `window_s`
    window of [0, total_s) (`SimResult.p50_ms_between`), shaped like `p50_by_window`."""
    return [sim.p50_ms_between(i * window_s, (i + 1) * window_s)
            for i in range(int(round(total_s / window_s)))]


def ratio_check(sim: float | None, live: float | None, tolerance: float = TOLERANCE) -> dict:
    """sim/live and whether sim is within `tolerance` of live (relative to live)."""
    if sim is None or live is None or live <= 0:
        return {"sim": sim, "live": live, "ratio": None, "within_25pct": False}
    ratio = sim / live
    return {"sim": sim, "live": live, "ratio": ratio,
            "within_25pct": abs(ratio - 1.0) <= tolerance + 1e-12}


def compare_live_sim(live_p50: Mapping[str, float | None], sim_p50: Mapping[str, float | None],
                     live_replicas: Mapping[str, Mapping[str, float]],
                     sim_replicas: Mapping[str, Mapping[str, float]],
                     tolerance: float = TOLERANCE) -> dict:
    """Per phase: p50 and every simulated deployment's replicas, sim/live, within 25%."""
    phases = {}
    for phase in PHASES:
        sim_reps = sim_replicas.get(phase, {})
        live_reps = live_replicas.get(phase, {})
        phases[phase] = {
            "p50_ms": ratio_check(sim_p50.get(phase), live_p50.get(phase), tolerance),
            "replicas": {name: ratio_check(sim_reps.get(name), live_reps.get(name), tolerance)
                         for name in sorted(sim_reps)},
        }
    checks = [c["p50_ms"]["within_25pct"] for c in phases.values()]
    checks += [r["within_25pct"] for c in phases.values() for r in c["replicas"].values()]
    return {"tolerance": tolerance, "by_phase": phases, "all_within_25pct": all(checks),
            "within": sum(checks), "checks": len(checks)}
