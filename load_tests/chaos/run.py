"""The `coe chaos` run: bad inputs, capacity, 3x overload, replica kills under load.

One function, `run_chaos(options)`, owns a private local Ray + Serve (127.0.0.1 only),
deploys the chaos cascade, runs the phases in order and returns the JSON-ready report.
Everything it reports is measured in this run; device time on CPU is emulated.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.serve_env import with_serve_env

DEFAULT_CONFIG = Path(__file__).with_name("chaos_cascade.yaml")
APP = "chaos"
PREFIX = "/chaos"
EMULATED_RESOURCES = {
    "accelerator_type:T4": 8,
    "accelerator_type:L4": 8,
    "accelerator_type:A100-40G": 8,
}


@dataclass(frozen=True)
class ChaosOptions:
    config: Path = DEFAULT_CONFIG
    port: int = 18420
    capacity_seconds: float = 8.0
    overload_seconds: float = 30.0
    overload_factor: float = 3.0
    chaos_seconds: float = 30.0
    chaos_load_factor: float = 0.5
    kills: int = 3
    probe_rounds: int = 3
    images: int = 500
    progress: bool = True
    bomb_seconds: float = 10.0
    quorum_images: int = 1000  # test-half images answered without and with the fault
    soak_seconds: float | None = None  # set: run the soak (load_tests/chaos/soak.py) instead
    soak_kill_every_s: float = 120.0  # 0: no replica kills (a baseline soak)
    soak_burst_every_s: float = 60.0  # 0: no bad-input / pixel-bomb bursts
    # the soak's load is 0.7x the capacity measured here: 8 s (the phases' figure) read
    # 32-52 req/s over seven soaks, and the three soaks that read 44-52 shed 5-14% at 0.7x
    soak_capacity_seconds: float = 30.0
    attacks: bool = True  # phases 6-7 (pixel bomb, quorum)


def _say(options: ChaosOptions, text: str) -> None:
    if options.progress:
        print(f"[chaos] {text}", flush=True)


def _stats(base: str) -> dict:
    import httpx

    return httpx.get(base + "/v1/stats", timeout=30).json()


def _load(url, images, spec, seconds, timeout_s, progress, in_child: bool = False):
    """A load run. `in_child`: in a spawned child process, for the soak, whose fault threads
    (replica kills, bursts of bad inputs and 2.5-MB pixel bombs, RSS sampling) run in this
    driver; sharing its GIL would stall the load client's event loop and count the stalls
    as latency."""
    from load_tests.client.generator import run_load
    from load_tests.client.schedules import parse_schedule
    from load_tests.client.subprocess_load import run_load_in_child

    runner = run_load_in_child if in_child else run_load
    return runner(url, images, parse_schedule(spec), max_requests=1_000_000,
                  max_seconds=seconds, timeout_s=timeout_s, progress=progress)


def _status_latency_ms(records, status: int) -> dict[str, float | None]:
    """p50/p99/max latency of the responses with `status` (e.g. how fast a 503 comes)."""
    import numpy as np

    ms = [r.latency_s * 1000.0 for r in records if r.status == status]
    if not ms:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    p50, p99 = np.percentile(ms, [50, 99])
    return {"count": len(ms), "p50_ms": round(float(p50), 1), "p99_ms": round(float(p99), 1),
            "max_ms": round(max(ms), 1)}


def _non_2xx_reasons(records) -> dict[str, int]:
    """What the non-2xx answers said (status + the start of the error), counted: tells a
    proxy shed ("Request dropped due to backpressure") from the cascade's own 503."""
    reasons: dict[str, int] = {}
    for r in records:
        if r.status is None or not 200 <= r.status < 300:
            key = f"{r.status or r.outcome}: {(r.error or '').split('(')[0].strip()[:60]}"
            reasons[key] = reasons.get(key, 0) + 1
    return reasons


def _inside_vs_client_p99(records) -> dict[str, float | None]:
    """p99 of the 2xx answers as the client saw them and as the cascade timed itself: the
    difference is time spent in the client, the proxy and the ingress queue."""
    import numpy as np

    ok = [r for r in records if r.ok and r.server_latency_ms is not None]
    if not ok:
        return {"client_p99_ms": None, "inside_cascade_p99_ms": None}
    return {
        "client_p99_ms": round(float(np.percentile([r.latency_s * 1000 for r in ok], 99)), 1),
        "inside_cascade_p99_ms": round(
            float(np.percentile([r.server_latency_ms for r in ok], 99)), 1),
    }


def _phase_report(result, books: dict) -> dict[str, Any]:
    summary = result.summary
    return {
        "latency_503_ms": _status_latency_ms(result.records, 503),
        "schedule": summary.schedule,
        "duration_s": round(summary.duration_s, 2),
        "send_window_s": round(summary.send_window_s, 2),
        "offered_rps": summary.offered_rps,
        "admitted_ok_rps": summary.throughput_rps,
        "status_counts": summary.status_counts,
        "non_2xx_reasons": _non_2xx_reasons(result.records),
        "latency_ok_ms": summary.latency.model_dump(),
        "p99_client_vs_inside_cascade": _inside_vs_client_p99(result.records),
        "accuracy": summary.accuracy,
        "degraded": summary.degraded,
        "client_accounting": books,
    }


def _multi_replica_members(config) -> list[tuple[str, int]]:
    """(deployment, replicas) of member deployments with >= 2 replicas: a kill leaves a
    twin. A colocated first tier has no deployments of its own, so it is never a target."""
    colocated = config.tiers[0] if config.ingress.colocate_first_tier else None
    return [
        (config.deployment_name(tier, member), member.replicas)
        for tier in config.tiers if tier is not colocated
        for member in tier.members if member.replicas >= 2
    ]


def _killer(targets, kills: int, period_s: float, out: list[dict]) -> threading.Thread:
    """A thread that kills one replica at each of period_s, 2*period_s, ... (so every kill
    lands while the chaos load runs) and times Serve's recovery of each in its own thread.
    """
    from load_tests.chaos.faults import kill_replica, wait_recovered

    t0 = time.monotonic()

    def recover(event: dict, deployment: str, replicas: int) -> None:
        recovered = wait_recovered(APP, deployment, event["actor"], replicas, timeout_s=120)
        event["recovery_s"] = None if recovered is None else round(recovered, 2)

    def run() -> None:
        waiters = []
        for k in range(kills):
            time.sleep(max(0.0, t0 + (k + 1) * period_s - time.monotonic()))
            deployment, replicas = targets[k % len(targets)]
            event: dict[str, Any] = {"kind": "replica_kill", "deployment": deployment,
                                     "at_s": round(time.monotonic() - t0, 2)}
            out.append(event)
            try:
                event["actor"] = kill_replica(APP, deployment, index=k)
            except Exception as exc:  # noqa: BLE001 - reported, not fatal to the run
                event["error"] = f"{type(exc).__name__}: {exc}"
                continue
            event["recovery_s"] = None
            waiter = threading.Thread(target=recover, args=(event, deployment, replicas),
                                      name=f"coe-chaos-recovery-{k}", daemon=True)
            waiter.start()
            waiters.append(waiter)
        for waiter in waiters:
            waiter.join()

    thread = threading.Thread(target=run, name="coe-chaos-killer", daemon=True)
    thread.start()
    return thread


def run_chaos(options: ChaosOptions) -> dict[str, Any]:
    """Run every phase against a fresh private deployment and return the report."""
    import ray
    from ray import serve

    from serve_app.app import BuildArgs, build_app, load_config

    os.environ.pop("RAY_ADDRESS", None)
    with_serve_env(os.environ)
    config = load_config(BuildArgs(config=str(options.config)))
    targets = _multi_replica_members(config)
    if not targets and (options.kills > 0 or (options.soak_seconds
                                              and options.soak_kill_every_s > 0)):
        raise ValueError(f"{options.config}: replica kills need a member with replicas >= 2 "
                         "(or run with --kills 0)")
    _say(options, f"starting a private Ray + Serve on 127.0.0.1:{options.port}")
    ray.init(num_cpus=8, num_gpus=4, resources=EMULATED_RESOURCES, include_dashboard=False,
             namespace="coe-chaos", logging_level="error", log_to_driver=False,
             runtime_env={"env_vars": {"COE_CHAOS_FAULTS": "1"}})  # the quorum phase
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": options.port})
        started = time.monotonic()
        serve.run(build_app(BuildArgs(config=str(options.config))), name=APP,
                  route_prefix=PREFIX)
        base = f"http://127.0.0.1:{options.port}{PREFIX}"
        from serve_app.deploy import wait_until_healthy

        wait_until_healthy(base + "/healthz", timeout_s=300)
        deploy_s = time.monotonic() - started
        _say(options, f"deployed in {deploy_s:.1f} s")
        if options.soak_seconds:
            return _soak(options, config, base, targets, deploy_s)
        return _phases(options, config, base, targets, deploy_s)
    finally:
        serve.shutdown()
        ray.shutdown()


def _phases(options, config, base, targets, deploy_s) -> dict[str, Any]:
    from load_tests.chaos.faults import (
        client_accounting,
        probe_catalogue,
        replica_actor_names,
        run_probes,
    )
    from load_tests.chaos.limits import admitted_depth
    from load_tests.chaos.overload import admitted_p99_bound_ms, p99_bounded, p99_by_window
    from load_tests.client.images import load_request_images

    url = base + "/v1/classify"
    images = load_request_images(limit=options.images)
    _load(url, images, "closed:4", 3.0, 30, False)  # warm-up (not reported, not counted)
    stats_start = _stats(base)

    _say(options, "phase 1/7: bad inputs")
    limits = config.ingress
    probes = probe_catalogue(limits.max_images_per_request, limits.max_body_bytes,
                             limits.max_pixels)
    tallies = run_probes(url, probes, rounds=options.probe_rounds)
    bad = {p.kind: {"expect": p.expect, **tallies[p.kind].as_dict()} for p in probes}
    bad_5xx = sum(
        n for t in tallies.values() for status, n in t.statuses.items() if status >= 500
    )
    unanswered_probes = sum(t.statuses.get(0, 0) for t in tallies.values())
    probes_sent = sum(t.count for t in tallies.values())

    _say(options, "phase 2/7: capacity (closed loop, 8 in flight)")
    capacity = _load(url, images, "closed:8", options.capacity_seconds, 30, options.progress)
    capacity_books = client_accounting(capacity.records)
    capacity_rps = capacity.summary.throughput_rps or 1.0

    overload_rate = options.overload_factor * capacity_rps
    _say(options, f"phase 3/7: overload {overload_rate:.1f} req/s for "
                  f"{options.overload_seconds:.0f} s ({options.overload_factor:g}x capacity)")
    ingress_before = replica_actor_names(APP, "CascadeIngress")
    overload = _load(url, images, f"poisson:{overload_rate:.3f}", options.overload_seconds,
                     30, options.progress)
    overload_books = client_accounting(overload.records)

    _say(options, "phase 4/7: recovery after overload")
    recovery = _load(url, images, "closed:2", 5.0, 30, False)
    recovery_books = client_accounting(recovery.records)
    ingress_after = replica_actor_names(APP, "CascadeIngress")

    chaos_rate = options.chaos_load_factor * capacity_rps
    _say(options, f"phase 5/7: {options.kills} replica kills under {chaos_rate:.1f} req/s "
                  f"for {options.chaos_seconds:.0f} s")
    faults: list[dict] = []
    period = options.chaos_seconds / (options.kills + 1)
    killer = _killer(targets, options.kills, period, faults)
    chaos = _load(url, images, f"poisson:{chaos_rate:.3f}", options.chaos_seconds, 30,
                  options.progress)
    killer.join(timeout=180)
    chaos_books = client_accounting(chaos.records)
    stats_end = _stats(base)  # the accounting covers phases 2-5 (the generator's records)
    attacks = _attack_phases(options, config, base, images) if options.attacks else {}
    attacks_ok = all(attacks[k]["ok"] for k in attacks)

    phases = {"capacity": capacity_books, "overload": overload_books,
              "recovery": recovery_books, "chaos": chaos_books}
    reached = probes_sent - unanswered_probes + sum(b["reached_ingress"] for b in
                                                    phases.values())
    server_delta = stats_end["requests"] - stats_start["requests"]
    lost = sum(b["lost"] for b in phases.values()) + unanswered_probes
    overload_p99 = overload.summary.latency.p99_ms
    queue_depth = admitted_depth(limits.max_ongoing_requests, limits.max_queued_requests,
                                 limits.max_inflight_images)
    p99_bound_ms = admitted_p99_bound_ms(
        queue_depth, overload.summary.throughput_rps or capacity_rps,
        capacity.summary.latency.p99_ms or 0.0)
    windows = p99_by_window(overload.records, options.overload_seconds)
    bounded = p99_bounded(overload_p99, windows, p99_bound_ms)
    recoveries = [f["recovery_s"] for f in faults if f.get("recovery_s") is not None]
    kinds: dict[str, int] = {}
    for fault in faults:
        key = f"{fault['kind']}:{fault['deployment']}"
        kinds[key] = kinds.get(key, 0) + 1
    return {
        "note": "CPU-only machine: GPU classes are EMULATED (Ray resources + the catalog's "
                "device model); all figures measured in this run",
        "config": str(options.config),
        "deploy_s": round(deploy_s, 1),
        "load_held": {
            "capacity_rps": round(capacity_rps, 2),
            "overload_offered_rps": overload.summary.offered_rps,
            "overload_seconds": overload.summary.send_window_s,
            "chaos_offered_rps": chaos.summary.offered_rps,
            "chaos_seconds": chaos.summary.send_window_s,
        },
        "faults_injected": {
            "by_kind": kinds, "total": len(faults), "events": faults,
            "all_during_load": all(f["at_s"] < options.chaos_seconds for f in faults),
        },
        "recovery_after_replica_kill_s": {
            "each": recoveries,
            "max": max(recoveries) if recoveries else None,
            "all_recovered": len(recoveries) == len(faults),
        },
        "bad_inputs": {"by_kind": bad, "tried": probes_sent, "responses_5xx": bad_5xx,
                       "unanswered": unanswered_probes},
        "overload": {
            **_phase_report(overload, overload_books),
            "shed_503": overload.summary.status_counts.get("503", 0),
            "p99_admitted_ms": overload_p99,
            "p99_bound_ms": round(p99_bound_ms, 1),
            "p99_bounded": bounded,
            "p99_by_10s_window": windows,
            "queue_depth_admitted": queue_depth,
            "recovered": {
                **_phase_report(recovery, recovery_books),
                "all_ok": recovery.summary.ok == recovery.summary.sent,
                "ingress_restarted": ingress_before != ingress_after,
            },
        },
        "capacity": _phase_report(capacity, capacity_books),
        "chaos": _phase_report(chaos, chaos_books),
        "accounting": {
            "requests_lost": lost,
            "server_requests_delta": server_delta,
            "client_reached_ingress": reached,
            "server_matches_client": server_delta == reached,
            "stats_reconciles": stats_end["requests"] == sum(
                stats_end["responses_by_status"].values()),
            "server_by_status": stats_end["responses_by_status"],
            # the image door at the end: its limit, refusals and shrinks (diagnosis)
            "door_at_end": stats_end.get("door"),
        },
        **attacks,
        "verdict": {
            "pixel_bomb_ok": attacks["pixel_bomb"]["ok"] if attacks else "not run",
            "quorum_ok": attacks["quorum"]["ok"] if attacks else "not run",
            "requests_lost": lost,
            "bad_input_5xx": bad_5xx,
            "p99_admitted_bounded": bounded,
            "recovered_after_overload": recovery.summary.ok == recovery.summary.sent
            and ingress_before == ingress_after,
            "ok": lost == 0 and bad_5xx == 0 and len(recoveries) == len(faults)
            and server_delta == reached and bounded
            and recovery.summary.ok == recovery.summary.sent
            and attacks_ok,
        },
    }


def capacity_after(offered_rps: float | None, start_rps: float, end_rps: float | None) -> dict:
    """The soak's capacity read again at its end, and its load against both readings."""
    def factor(capacity):
        return round(offered_rps / capacity, 3) if offered_rps and capacity else None

    return {"capacity_rps": round(end_rps, 2) if end_rps else None,
            "start_over_end": round(start_rps / end_rps, 3) if end_rps else None,
            "load_factor_of_start": factor(start_rps), "load_factor_of_end": factor(end_rps),
            "note": "diagnosis, not judged: the same closed loop after the soak"}


def _soak(options, config, base, targets, deploy_s) -> dict[str, Any]:
    """Warm up, measure capacity, then the soak (load_tests/chaos/soak.py)."""
    from load_tests.chaos.soak import run_soak_phases
    from load_tests.client.images import load_request_images

    url = base + "/v1/classify"
    images = load_request_images(limit=options.images)
    _load(url, images, "closed:4", 3.0, 30, False)
    _say(options, f"soak: capacity (closed loop, 8 in flight, load client in its own process, "
                  f"{options.soak_capacity_seconds:g} s)")
    capacity = _load(url, images, "closed:8", options.soak_capacity_seconds, 30,
                     options.progress, in_child=True)
    report = run_soak_phases(
        APP, base, config, images, targets, options.soak_seconds,
        capacity.summary.throughput_rps or 1.0,
        lambda u, imgs, spec, secs: _load(u, imgs, spec, secs, 30, options.progress,
                                          in_child=True),
        lambda text: _say(options, text), kill_every_s=options.soak_kill_every_s,
        burst_every_s=options.soak_burst_every_s)
    # Diagnosis, not judged: the same closed loop again after the soak. A start reading
    # well above it means the soak ran at more than its nominal load factor of the
    # capacity the host had over the run (this host's speed moves from minute to minute).
    _say(options, "soak: capacity again, after the soak (diagnosis)")
    try:  # a diagnosis must never cost the soak its report
        recovered_s = _wait_last_kill_recovered(report["replica_kills"], dict(targets))
        end = _load(url, images, "closed:8", options.soak_capacity_seconds, 30,
                    options.progress, in_child=True)
        after = {**capacity_after(report["offered_rps"], report["capacity_rps"],
                                  end.summary.throughput_rps),
                 "waited_for_last_kill_s": recovered_s}
    except Exception as exc:  # noqa: BLE001 - reported in the report, not raised
        after = {"error": f"{type(exc).__name__}: {exc}"}
    return {"config": str(options.config), "deploy_s": round(deploy_s, 1),
            "mode": "soak", "capacity_seconds": options.soak_capacity_seconds, **report,
            "capacity_after": after}


def _wait_last_kill_recovered(kills: list[dict], replicas: dict[str, int]) -> float | None:
    """Seconds until the last killed replica's deployment runs all its replicas again (the
    end reading must not measure a restart); None if there was no kill or it timed out."""
    from load_tests.chaos.faults import wait_recovered

    last = next((k for k in reversed(kills) if "actor" in k), None)
    if last is None:
        return None
    waited = wait_recovered(APP, last["deployment"], last["actor"],
                            replicas.get(last["deployment"], 1))
    return None if waited is None else round(waited, 1)


def _attack_phases(options, config, base, images) -> dict[str, Any]:
    """Phases 6-7 (load_tests/chaos/attacks.py): pixel-bomb flood, a member slowed past
    its timeout (quorum)."""
    from load_tests.chaos.attacks import pixel_bomb_phase, quorum_phase
    from load_tests.client.images import load_request_images

    _say(options, f"phase 6/7: pixel bomb (32 x 4096x4096 PNG in a loop) for "
                  f"{options.bomb_seconds:.0f} s")
    bomb = pixel_bomb_phase(
        base, images, options.bomb_seconds,
        lambda url, imgs, spec, secs: _load(url, imgs, spec, secs, 30, False))
    tier0 = config.tiers[0]
    slowed = config.deployment_name(tier0, tier0.members[-1])
    labelled = load_request_images(limit=options.quorum_images, split="test")
    _say(options, f"phase 7/7: quorum ({slowed} slowed past member_timeout_s): "
                  f"{len(labelled)} test-half images without, then with the fault")
    quorum = quorum_phase(APP, slowed, base, labelled, config.ingress.member_timeout_s,
                          config.ingress.max_inflight_images)
    return {"pixel_bomb": bomb, "quorum": quorum}
