"""A discrete-time simulator of the serving cluster: queues, batches, cold starts, autoscaler.

Why this granularity: a day at 100,000 req/s is ~5e9 requests, far too many to simulate one
by one in Python. The simulator is therefore fluid at the tick (default 1 s): per member
deployment it keeps a queue; each tick it adds the tick's arrivals (Poisson counts), serves
as many as the ready replicas can at the batch size Serve's batcher forms at that
per-replica rate (full batches when a backlog exists), and carries the rest over. The
latency of the requests a tick serves is the queueing delay (backlog / service rate, at the
tick's start and end, half the requests each), plus the batching wait, the call time of that
batch, the per-request host time and one Serve hop per tier. A request's latency is the sum
over the tiers it passes. Escalation is drawn per tick (binomial) from the reach the cached
per-image predictions give under the exit policy (`planner.simulate.simulate`, i.e.
`cascade.policies.decide_tier`, the live router's function) for the tick's input mix. New
replicas hold their GPU for `cold_start_s` before they serve. Every `autoscale_period_s`
the controller sees what the live system measures (arrival rate, exit counters and ongoing
requests over the look-back window) and sets replica targets and the gear.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from cascade.autoscale_policy import MemberLoadModel
from planner.sim_traces import Trace


@dataclass(frozen=True)
class SimMember:
    """A member deployment: its load model (shared with the live policy) and its GPU."""

    load: MemberLoadModel
    gpu_class: str
    gpu_fraction: float
    queue_limit_per_replica: int = 288  # max_ongoing_requests + max_queued_requests


@dataclass(frozen=True)
class GearBehaviour:
    """Reach of every tier (fraction of requests) on the whole image mix and on the hard
    images, and the accuracy of each, under one set of exit thresholds."""

    reach_all: tuple[float, ...]
    reach_hard: tuple[float, ...]
    accuracy_all: float
    accuracy_hard: float

    def reach(self, hard_mix: float) -> np.ndarray:
        return (1 - hard_mix) * np.asarray(self.reach_all) + hard_mix * np.asarray(
            self.reach_hard)

    def accuracy(self, hard_mix: float) -> float:
        return (1 - hard_mix) * self.accuracy_all + hard_mix * self.accuracy_hard


@dataclass(frozen=True)
class SimSettings:
    cold_start_s: float = 30.0
    autoscale_period_s: float = 10.0  # Serve pushes autoscaling metrics every 10 s
    look_back_s: float = 30.0
    hop_latency_s: float = 0.010  # one Serve hop, measured on this machine (BENCHMARKS s.3)
    slo_ms: float = 200.0
    seed: int = 0
    sample_every_s: float = 60.0  # resolution of the replica/load timeline kept for plots
    # A shared host (the live check on a CPU-only machine): every request's CPU work, over
    # all processes, shares `host_cores` cores. None = a GPU cluster, where each replica has
    # its own device and the host's cores are not the bottleneck.
    host_cores: int | None = None
    host_cpu_seconds_per_request: float = 0.0
    # ... and what keeps those cores busy apart from requests: the draw of the idle app (the
    # controller running the policy, Ray, the samplers) and replicas starting (importing
    # torch, loading weights), each start's CPU spread over its cold start
    host_idle_cores: float = 0.0
    host_cpu_seconds_per_start: float = 0.0
    # A replay of a measured run: the CPU per request the host really paid, from each start
    # time (s) on, as ((t_from, cpu_seconds), ...); overrides host_cpu_seconds_per_request
    # where it starts. Measured CPU already holds the replica starts', so a replay sets
    # host_cpu_seconds_per_start to 0 rather than count them twice.
    host_cpu_by_time: tuple[tuple[float, float], ...] = ()


def host_cpu_at(settings: SimSettings, now_s: float) -> float:
    """The CPU-seconds per request in force at `now_s`: the last `host_cpu_by_time` entry
    started by then, else `host_cpu_seconds_per_request`."""
    cpu = settings.host_cpu_seconds_per_request
    for t_from, value in settings.host_cpu_by_time:
        if t_from <= now_s:
            cpu = value
    return cpu


def shared_host_stretch(rate_per_s: float, cpu_seconds_per_request: float, cores: int,
                        max_utilisation: float = 0.95, other_busy_cores: float = 0.0) -> float:
    """Mean response time over service time of an M/M/c queue (Erlang C) at the host's
    utilisation (requests' CPU plus `other_busy_cores` of other work): how much a request's
    time on a shared CPU grows with the load on it."""
    rho = min(max_utilisation,
              (other_busy_cores + rate_per_s * cpu_seconds_per_request) / cores)
    if rho <= 0:
        return 1.0
    a = rho * cores
    term, total = 1.0, 1.0
    for k in range(1, cores):
        term *= a / k
        total += term
    last = term * a / cores / (1 - rho)
    erlang_c = last / (total + last)
    return 1.0 + erlang_c / (cores * (1 - rho))


@dataclass
class Observation:
    """What a live autoscaler can measure, averaged over the look-back window."""

    now_s: float
    arrival_rate: float
    exits_per_tier: np.ndarray
    ongoing: dict[str, float]
    replicas: dict[str, int]
    gear: int


Controller = Callable[[Observation], tuple[dict[str, int], int]]


@dataclass
class SimResult:
    requests: float
    lost: float
    usd: float
    usd_per_1k: float
    p50_ms: float
    p99_ms: float
    slo_violation_rate: float
    accuracy: float
    gpu_hours_by_class: dict[str, float]
    timeline: dict[str, list] = field(default_factory=dict)
    # per tick: latencies (s) of the requests each tier answered and their weights, each of
    # shape (ticks, tiers, 2), and the tick length; for latency over a part of the trace
    tick_latency: tuple[np.ndarray, np.ndarray, float] | None = None

    def p50_ms_between(self, start_s: float, end_s: float) -> float:
        """Median latency (ms) of the requests answered in the ticks of [start_s, end_s)."""
        if self.tick_latency is None:
            raise ValueError("no per-tick latencies in this result")
        values, weights, dt = self.tick_latency
        lo, hi = int(round(start_s / dt)), int(round(end_s / dt))
        return weighted_quantile(values[lo:hi].ravel(), weights[lo:hi].ravel(), 0.5) * 1000.0

    def summary(self) -> dict:
        return {
            "provisioned_usd_per_1k": self.usd_per_1k,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "slo_violation_rate": self.slo_violation_rate,
            "requests": self.requests,
            "lost_requests": self.lost,
            "provisioned_usd": self.usd,
            "accuracy": self.accuracy,
            "gpu_hours_by_class": self.gpu_hours_by_class,
        }


def whole_gpus(replicas_by_fraction: dict[float, int]) -> int:
    """GPUs holding these replicas: largest fraction first, each into the room left on the
    GPUs opened so far, else a new GPU (first-fit decreasing, by groups of equal size)."""
    rooms: dict[float, int] = {}  # room left -> GPUs with that room
    gpus = 0
    for fraction in sorted(replicas_by_fraction, reverse=True):
        left = replicas_by_fraction[fraction]
        if fraction <= 0 or left <= 0:
            continue
        for room in sorted(rooms, reverse=True):
            if left == 0:
                break
            per_gpu = int((room + 1e-9) // fraction)
            if per_gpu == 0:
                continue
            fit_gpus = min(rooms[room], -(-left // per_gpu))
            placed = min(left, fit_gpus * per_gpu)
            full, rest = divmod(placed, per_gpu)
            rooms[room] -= full + (1 if rest else 0)
            new_room = round(room - per_gpu * fraction, 9)
            if full:
                rooms[new_room] = rooms.get(new_room, 0) + full
            if rest:
                partial = round(room - rest * fraction, 9)
                rooms[partial] = rooms.get(partial, 0) + 1
            left -= placed
        if left > 0:
            per_gpu = max(1, int((1.0 + 1e-9) // fraction))
            full, rest = divmod(left, per_gpu)
            gpus += full + (1 if rest else 0)
            if full:
                room = round(1.0 - per_gpu * fraction, 9)
                rooms[room] = rooms.get(room, 0) + full
            if rest:
                room = round(1.0 - rest * fraction, 9)
                rooms[room] = rooms.get(room, 0) + 1
        rooms = {r: c for r, c in rooms.items() if c > 0}
    return gpus


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    if values.size == 0 or weights.sum() <= 0:
        return float("nan")
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, q * cum[-1])])


class _Deployment:
    """Queue and replicas of one member deployment."""

    def __init__(self, member: SimMember, replicas: int):
        self.member = member
        self.load = member.load
        self.ready_at: list[float] = [0.0] * replicas
        self.queue = 0.0

    def ready(self, now: float) -> int:
        return bisect.bisect_right(self.ready_at, now)  # ready_at stays sorted

    def scale_to(self, target: int, now: float, cold_start_s: float) -> None:
        have = len(self.ready_at)
        if target > have:
            self.ready_at += [now + cold_start_s] * (target - have)
        elif target < have:
            del self.ready_at[target:]  # the latest to start go first; Serve drains the rest

    def tick(self, arrivals: float, now: float, dt: float) -> tuple[float, float, float, float]:
        """Serve one tick; return (served, lost, latency_at_start_s, latency_at_end_s)."""
        load = self.load
        n = self.ready(now)
        before = self.queue
        backlog = before + arrivals
        rate_per_replica = arrivals / dt / max(n, 1)
        batch = load.max_batch_size if before > 0 else load.batch_size(rate_per_replica)
        per_image = load.seconds_per_image(batch)
        capacity = n * dt / per_image if n else 0.0
        served = min(backlog, capacity)
        # what is still waiting beyond the queue limits is refused (Serve answers 503)
        lost = max(0.0, backlog - served - self.member.queue_limit_per_replica * max(n, 1))
        self.queue = backlog - served - lost
        mu = capacity / dt if capacity > 0 else 1e-9
        if batch >= load.max_batch_size and rate_per_replica > 0:
            wait = min(load.batch_wait_timeout_s, (batch - 1) / rate_per_replica)
        else:
            wait = load.batch_wait_timeout_s
        service = wait + load.call_seconds[batch - 1] + load.host_seconds_per_request
        self.busy_requests = served / dt * service  # Little's law: requests in service
        return served, lost, before / mu + service, self.queue / mu + service


def simulate_cluster(
    trace: Trace,
    tiers: Sequence[Sequence[SimMember]],
    gears: Sequence[GearBehaviour],
    controller: Controller,
    settings: SimSettings,
    initial_replicas: dict[str, int],
    prices_per_gpu_s: dict[str, float],
    initial_gear: int = 0,
    progress: bool = False,
) -> SimResult:
    """Run `trace` through the cascade; `controller` is called every autoscale period."""
    rng = np.random.default_rng(settings.seed)
    dt = trace.tick_s
    ticks = len(trace.rate_per_s)
    deps = [[_Deployment(m, initial_replicas[m.load.deployment]) for m in tier] for tier in tiers]
    flat = [d for tier in deps for d in tier]
    n_tiers = len(tiers)
    look = max(1, int(round(settings.look_back_s / dt)))
    every = max(1, int(round(settings.autoscale_period_s / dt)))
    sample_every = max(1, int(round(settings.sample_every_s / dt)))
    arrivals_hist = np.zeros(ticks)
    exits_hist = np.zeros((ticks, n_tiers))
    # running sums (index i = sum of ticks < i) give look-back means in O(1)
    ongoing_cum = {d.load.deployment: [0.0] * (ticks + 1) for d in flat}
    arrivals_cum = [0.0] * (ticks + 1)
    lat_values = np.zeros((ticks, n_tiers, 2))
    lat_weights = np.zeros((ticks, n_tiers, 2))
    lost_total = 0.0
    correct = 0.0
    gear = initial_gear
    usd = 0.0
    gpu_s_by_class: dict[str, float] = defaultdict(float)
    gpu_cache: dict[tuple, dict[str, int]] = {}
    timeline: dict[str, list] = {"t_s": [], "rate_per_s": [], "gear": [],
                                 **{f"replicas:{d.load.deployment}": [] for d in flat},
                                 "gpus": []}
    iterator = range(ticks)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"simulating {trace.name}", mininterval=2.0)
    for i in iterator:
        now = i * dt
        if i % every == 0 and i > 0:
            lo = max(0, i - look)
            window = (i - lo) * dt
            obs = Observation(
                now_s=now,
                arrival_rate=(arrivals_cum[i] - arrivals_cum[lo]) / window,
                exits_per_tier=exits_hist[lo:i].sum(axis=0),
                ongoing={k: (v[i] - v[lo]) / (i - lo) for k, v in ongoing_cum.items()},
                replicas={d.load.deployment: len(d.ready_at) for d in flat},
                gear=gear,
            )
            targets, gear = controller(obs)
            for d in flat:
                if d.load.deployment in targets:
                    d.scale_to(int(targets[d.load.deployment]), now, settings.cold_start_s)
        mix = float(trace.hard_mix[i])
        behaviour = gears[gear]
        reach = behaviour.reach(mix)
        arrivals = float(rng.poisson(trace.rate_per_s[i] * dt))
        arrivals_hist[i] = arrivals
        arrivals_cum[i + 1] = arrivals_cum[i] + arrivals
        correct += arrivals * behaviour.accuracy(mix)
        incoming = arrivals
        latency_start = latency_end = 0.0
        stretch = 1.0
        if settings.host_cores is not None:
            starting = sum(len(d.ready_at) - d.ready(now) for d in flat)
            start_cores = (starting * settings.host_cpu_seconds_per_start
                           / settings.cold_start_s if settings.cold_start_s > 0 else 0.0)
            # Erlang C takes the arrival RATE: M/M/c already holds the Poisson spread of
            # the arrivals, so this tick's sampled count would count it twice (and, the
            # stretch being convex, inflate it: 2.3x instead of 1.6x at 62% busy)
            stretch = shared_host_stretch(
                float(trace.rate_per_s[i]), host_cpu_at(settings, now), settings.host_cores,
                other_busy_cores=settings.host_idle_cores + start_cores)
        for k, tier in enumerate(deps):
            outs, starts, ends, lost_k = [], [], [], 0.0
            for d in tier:
                served, lost, l0, l1 = d.tick(incoming, now, dt)
                outs.append(served)
                starts.append(l0)
                ends.append(l1)
                lost_k = max(lost_k, lost)
                cum = ongoing_cum[d.load.deployment]
                cum[i + 1] = cum[i] + d.queue + d.busy_requests
            lost_total += lost_k
            done = min(outs)
            latency_start += (max(starts) + settings.hop_latency_s) * stretch
            latency_end += (max(ends) + settings.hop_latency_s) * stretch
            if k + 1 < n_tiers and reach[k] > 0:
                p_up = min(1.0, reach[k + 1] / reach[k])
                escalated = float(rng.binomial(int(done), p_up)) if done >= 1 else 0.0
            else:
                escalated = 0.0
            exits = done - escalated
            exits_hist[i, k] = exits
            lat_values[i, k] = (latency_start, latency_end)
            lat_weights[i, k] = (exits / 2, exits / 2)
            incoming = escalated
        key = tuple(len(d.ready_at) for d in flat)
        if key not in gpu_cache:
            by_class: dict[str, dict[float, int]] = defaultdict(lambda: defaultdict(int))
            for d in flat:
                by_class[d.member.gpu_class][d.member.gpu_fraction] += len(d.ready_at)
            gpu_cache[key] = {c: whole_gpus(dict(f)) for c, f in by_class.items()}
        for gpu_class, count in gpu_cache[key].items():
            gpu_s_by_class[gpu_class] += count * dt
            usd += count * dt * prices_per_gpu_s[gpu_class]
        if i % sample_every == 0:
            timeline["t_s"].append(now)
            timeline["rate_per_s"].append(float(trace.rate_per_s[i]))
            timeline["gear"].append(gear)
            timeline["gpus"].append(sum(gpu_cache[key].values()))
            for d in flat:
                timeline[f"replicas:{d.load.deployment}"].append(len(d.ready_at))
    requests = float(arrivals_hist.sum())
    values, weights = lat_values.ravel(), lat_weights.ravel()
    slo_s = settings.slo_ms / 1000.0
    served = weights.sum()
    late = weights[values > slo_s].sum()
    violation = (late + lost_total) / max(served + lost_total, 1.0)
    return SimResult(
        requests=requests,
        lost=lost_total,
        usd=usd,
        usd_per_1k=usd / max(requests, 1.0) * 1000.0,
        p50_ms=weighted_quantile(values, weights, 0.50) * 1000.0,
        p99_ms=weighted_quantile(values, weights, 0.99) * 1000.0,
        slo_violation_rate=float(violation),
        accuracy=correct / max(requests, 1.0),
        gpu_hours_by_class={c: s / 3600.0 for c, s in gpu_s_by_class.items()},
        timeline=timeline,
        tick_latency=(lat_values, lat_weights, dt),
    )
