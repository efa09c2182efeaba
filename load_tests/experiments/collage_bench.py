"""`coe bench collage`: no redundancy vs replication vs collage inference, same load, one run.

A private Ray + Serve on 127.0.0.1 (emulated GPU classes: logical GPUs and accelerator
resources, like tests/conftest.py). One protected tier of two members (resnet20 + cnn_a on
the L4, mean of probabilities), deployed once per mode, each driven by the same open-loop
Poisson schedule over the same JPEG test images, with straggler injection on (`faults`: a
fraction of member calls answer `factor` x late). All apps are deployed side by side and
loaded in alternating windows (one app at a time, order reversed every round), so a
drifting background load on the shared CPU hits every mode alike. Two more apps without
faults (no redundancy, collage) check that the collage changes no label, what it costs,
and what it adds to p50.

Per mode: client-side p50/p99, accuracy, extra (redundancy) device-ms per prediction from
the ingress's redundancy ledger (EMULATED device time on this CPU-only machine), and
collage_answers = predictions in which a collage cell stood in for a member. Warm-up
requests (not measured) let the adaptive straggler timeout learn each member's p95.
"""

from __future__ import annotations

import os
import time
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from load_tests.experiments.bench_plan import write_json_report
from load_tests.experiments.collage_floor import p99_floor

MODES = ("no_redundancy", "replication", "collage")
EMULATED_RESOURCES = {"accelerator_type:T4": 8, "accelerator_type:L4": 8}


class CollageBenchOptions(BaseModel):
    """Knobs of one bench run (all bounded: every load run stops by itself)."""

    port: int = Field(default=int(os.environ.get("COE_TEST_SERVE_PORT", "18307")), ge=1024)
    rate: float | Literal["auto"] = Field(
        default="auto", description="offered requests/s; auto: capacity_share x the "
        "closed-loop capacity of the no-fault no-redundancy app (the faulted one without "
        "clean_runs), measured first on this host")
    capacity_share: float = Field(
        default=0.25, gt=0, le=1, description="auto rate: the share of the measured capacity "
        "(a straggler benchmark assumes cores to spare: at a fixed 20 req/s a slower 2-core "
        "host was 75-91% busy and its own tail set every p99)")
    capacity_seconds: float = Field(default=20.0, ge=5, le=300,
                                    description="auto rate: the capacity measurement's length")
    requests: int = Field(default=600, ge=20, le=20_000, description="measured, per mode")
    warmup: int = Field(default=100, ge=0, le=2000, description="unmeasured, per mode")
    fault_fraction: float = Field(default=0.05, ge=0, le=1)
    fault_factor: float = Field(default=10.0, ge=1)
    grid: int = Field(default=2, ge=2, le=3)
    collage_gpu_class: str = Field(
        default="L4", description="the protected tier's own class by default, so the collage's "
        "and replication's extra device time are on the same footing (the same device)")
    straggler_timeout_ms: float | str = "adaptive"
    adaptive_margin: float = Field(default=2.0, ge=1.0, le=10.0,
                                   description="adaptive timeout = margin x member's p95")
    peer_lag_margin: float | None = Field(
        default=None, ge=1.0, le=50.0, description="straggler = this many times the member's "
        "usual lag (p95) behind the tier's first answer (None: the adaptive timeout only)")
    window_ms: float = Field(default=60.0, ge=0, description="the longest a partial collage "
                             "waits to fill")
    ready_by_timeout: bool = Field(default=True, description="shorten the window so the "
                                   "cells are back by the earliest straggler timeout")
    skip_answered: bool = Field(default=True, description="back up only the images still "
                                "waiting on a member when the window ends (False: the "
                                "paper's eager collages, every image)")
    clean_runs: bool = Field(default=True, description="also run without faults")
    aa_control: bool = Field(default=True, description="with clean_runs: a second "
                             "no-redundancy app without faults, in the same rounds: the "
                             "noise floor of the p50 check (an A/A ratio; reported, not judged)")
    rounds: int = Field(default=6, ge=1, le=20, description="alternating windows per app "
                        "(short windows: the host's drift hits every app alike)")
    seed: int = 0
    timeout_s: float = Field(default=30.0, gt=0)
    out: str = "reports/collage"

    @field_validator("rate")
    @classmethod
    def _rate_in_range(cls, value):
        if value != "auto" and not 0 < value <= 100:
            raise ValueError("rate: requests/s in (0, 100], or 'auto'")
        return value


def bench_cascade(mode: str, options: CollageBenchOptions, faults: bool) -> dict:
    """The cascade config of one mode."""
    config: dict = {
        "name": f"collage-bench-{mode}",
        "tiers": [{
            "name": "tier0", "gpu_class": "L4", "combine": "mean",
            "members": [
                {"model": "resnet20", "max_batch_size": 8, "batch_wait_timeout_s": 0.002},
                {"model": "cnn_a", "max_batch_size": 8, "batch_wait_timeout_s": 0.002},
            ],
        }],
    }
    if faults:
        config["faults"] = {"fraction": options.fault_fraction, "factor": options.fault_factor,
                            "seed": options.seed}
    if mode == "replication":
        config["redundancy"] = {"kind": "replication", "tier": 0}
    elif mode == "collage":
        config["redundancy"] = {
            "kind": "collage", "tier": 0, "grid": options.grid,
            "gpu_class": options.collage_gpu_class, "window_ms": options.window_ms,
            "straggler_timeout_ms": options.straggler_timeout_ms,
            "adaptive_margin": options.adaptive_margin,
            "peer_lag_margin": options.peer_lag_margin,
            "ready_by_timeout": options.ready_by_timeout,
            "skip_answered": options.skip_answered,
        }
    return config


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _p50_p99(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"count": len(values), "p50": round(_percentile(values, 50), 1),
            "p99": round(_percentile(values, 99), 1)}


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 4)


def _get_json(url: str) -> dict:
    import httpx

    return httpx.get(url, timeout=30).json()


def app_name(mode: str, faults: bool) -> str:
    return f"collage-bench-{mode}{'' if faults else '-clean'}"


def deploy(plan: list[tuple[str, bool]], options: CollageBenchOptions) -> dict:
    """Deploy every (mode, faults) app side by side; (mode, faults) -> base URL."""
    from ray import serve

    from serve_app.app import build_app
    from serve_app.deploy import wait_until_healthy

    urls = {}
    for mode, faults in plan:
        name = app_name(mode, faults)
        serve.run(build_app({"config": bench_cascade(mode, options, faults)}), name=name,
                  route_prefix=f"/{name}", blocking=False)
        urls[(mode, faults)] = f"http://127.0.0.1:{options.port}/{name}"
    for url in urls.values():
        wait_until_healthy(f"{url}/healthz", 900)
    return urls


def measured_rate(url: str, options: CollageBenchOptions, images) -> dict:
    """The offered rate for an `auto` run: a closed loop of 8 in flight against one app for
    `capacity_seconds`, its answered requests/s times `capacity_share` (at least 1 req/s)."""
    from load_tests.client.generator import run_load
    from load_tests.client.schedules import closed

    result = run_load(f"{url}/v1/classify", images, closed(8), max_requests=100_000,
                      max_seconds=options.capacity_seconds, timeout_s=options.timeout_s,
                      progress=False)
    capacity = result.summary.throughput_rps or 0.0
    rate = round(max(1.0, min(100.0, options.capacity_share * capacity)), 2)
    return {"closed_loop_in_flight": 8, "seconds": options.capacity_seconds,
            "capacity_rps": round(capacity, 2), "share": options.capacity_share,
            "rate": rate}


def warm_up(url: str, options: CollageBenchOptions, images) -> None:
    """Unmeasured requests: replicas warm, the adaptive timeout learns each member's p95."""
    from load_tests.client.generator import run_load
    from load_tests.client.schedules import closed

    if options.warmup:
        run_load(f"{url}/v1/classify", images[::-1], closed(2), max_requests=options.warmup,
                 max_seconds=300, timeout_s=options.timeout_s, progress=False)


def run_window(url: str, options: CollageBenchOptions, images, seed: int):
    """One measured open-loop window; (records, stats before, stats after). The stats after
    also carry `bench_host_busy`: the share of the host's cores busy during the window
    (every process: the other apps' idle draw, the client, Ray)."""
    import psutil

    from load_tests.client.generator import run_load
    from load_tests.client.schedules import poisson

    count = len(images)
    before = _get_json(f"{url}/v1/stats")
    cpu_before, wall_before = _busy_cpu_seconds(psutil.cpu_times()), time.monotonic()
    result = run_load(f"{url}/v1/classify", images, poisson(options.rate, seed=seed),
                      max_requests=count, max_seconds=count / options.rate * 3 + 60,
                      timeout_s=options.timeout_s, progress=False)
    busy = (_busy_cpu_seconds(psutil.cpu_times()) - cpu_before) / (
        (time.monotonic() - wall_before) * (psutil.cpu_count() or 1))
    after = {**_get_json(f"{url}/v1/stats"), "bench_host_busy": round(busy, 3)}
    return result.records, before, after


def _busy_cpu_seconds(times) -> float:
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq",
                                                        "softirq", "steal"))


def summarise_mode(windows: list, faults: bool) -> dict:
    """The row of one mode over its windows: latency, accuracy, extra device time, collage
    answers. `windows`: (records, stats before, stats after) per window."""
    records = [r for window, _, _ in windows for r in window]
    ok = [r for r in records if r.ok]
    latencies = [r.latency_s * 1000.0 for r in ok]
    p50, p99 = _percentile(latencies, 50), _percentile(latencies, 99)
    images = sum(after["images"] - before["images"] for _, before, after in windows)

    def delta(key: str) -> float:
        total = 0.0
        for _, before, after in windows:
            now, then = after.get("redundancy") or {}, before.get("redundancy") or {}
            total += float(now.get(key, 0) or 0) - float(then.get(key, 0) or 0)
        return total

    billed = sum(sum(after["device_seconds_by_gpu_class"].values())
                 - sum(before["device_seconds_by_gpu_class"].values())
                 for _, before, after in windows)
    last = windows[-1][2]
    busy = [after.get("bench_host_busy") for _, _, after in windows]
    return {
        "p50_ms": round(p50, 2) if p50 is not None else None,
        "p99_ms": round(p99, 2) if p99 is not None else None,
        "p99_over_p50": _ratio(p99, p50),
        "accuracy": round(sum(bool(r.correct) for r in ok) / len(ok), 4) if ok else None,
        "extra_device_ms_per_prediction": round(delta("device_seconds") * 1000.0 / images, 4)
        if images else None,
        "collage_answers": sum(r.source == "collage" for r in ok),
        # where the collage's p99 comes from: its answers' latency against the timeouts
        "collage_answer_ms": _p50_p99([r.latency_s * 1000.0 for r in ok
                                       if r.source == "collage"]),
        "straggler_timeout_ms": (last.get("redundancy") or {}).get("straggler_timeout_ms"),
        # at the end of the last window: the collage call's recent median and the window it
        # set, and how long stand-ins waited for their cell after the timeout
        **{key: (last.get("redundancy") or {}).get(key) for key in (
            "collage_call_median_ms", "collage_window_ms", "cell_wait_ms", "peer_lag_ms")},
        "member_slots_from_collage": int(delta("answers_from_backup")),
        "device_ms_per_prediction_billed": round(billed * 1000.0 / images, 4) if images
        else None,
        "requests": len(records),
        "ok": len(ok),
        "degraded": sum(bool(r.degraded) for r in ok),
        "delayed_member_calls": int(delta("delayed_calls")),
        "backup_calls": int(delta("backup_calls")),
        "backup_images": int(delta("backup_images")),
        # images whose members all answered before their collage left: never sent
        "backup_skipped_images": int(delta("backup_skipped_images")),
        "faults": (last.get("redundancy") or {}).get("faults") if faults else None,
        "emulated": bool(last.get("emulated")),
        # where the time went, median vs tail (serve_app.call_anatomy): the ingress's rings
        # at the end of the last window (its latest calls, the warm-up's included)
        "anatomy": last.get("anatomy"),
        # how loaded the host was while this app's windows ran (not judged): a saturated
        # host's own tail is what the p99 checks compare against
        "host_busy_mean": round(float(np.mean(busy)), 3) if None not in busy else None,
        "labels": [r.predicted for r in records],
        "sources": [r.source for r in records],
    }


def compare_clean(base: dict, coll: dict) -> dict:
    """The no-fault pair, request by request (same images, same order): labels the collage
    app answered differently, and how many of those had a collage cell standing in for a
    member that straggled with no fault injected (host noise on shared cores)."""
    changed = [a != b for a, b in zip(base["labels"], coll["labels"], strict=True)]
    stood_in = [source == "collage" for source in coll["sources"]]
    return {"no_redundancy": base, "collage": coll, "labels_changed": sum(changed),
            "labels_changed_where_a_cell_stood_in": sum(
                c and s for c, s in zip(changed, stood_in, strict=True)),
            "p50_ratio_collage_over_none": _ratio(coll["p50_ms"], base["p50_ms"])}


def aa_noise_floor(base: dict, control: dict) -> dict:
    """Two identical no-redundancy apps, same images, same rounds: how far their p50 and
    p99 differ with nothing different between them (what this host's noise alone does to
    the collage/none ratios)."""
    return {"p50_ms": control["p50_ms"], "p99_ms": control["p99_ms"],
            "p50_ratio_control_over_none": _ratio(control["p50_ms"], base["p50_ms"]),
            "p99_ratio_control_over_none": _ratio(control["p99_ms"], base["p99_ms"])}


def checks(report: dict) -> dict:
    """The issue's "must show" comparisons, computed (never asserted) from the figures."""
    none, rep, col = (report[m] for m in MODES)
    out = {
        "collage_p99_le_0.5x_no_redundancy": _le(col["p99_ms"], 0.5, none["p99_ms"]),
        "collage_p99_le_1.2x_replication": _le(col["p99_ms"], 1.2, rep["p99_ms"]),
        "collage_extra_cost_le_0.5x_replication": _le(
            col["extra_device_ms_per_prediction"], 0.5, rep["extra_device_ms_per_prediction"]),
    }
    clean = report.get("without_faults")
    if clean:
        base, coll = clean["no_redundancy"], clean["collage"]
        out["collage_accuracy_within_1pt_of_no_fault"] = (
            col["accuracy"] is not None and base["accuracy"] is not None
            and abs(col["accuracy"] - base["accuracy"]) <= 0.01)
        out["no_faults_collage_changes_no_label"] = clean["labels_changed"] == 0
        out["no_faults_collage_p50_le_1.1x"] = _le(coll["p50_ms"], 1.1, base["p50_ms"])
        out["no_faults_collage_billed"] = (coll["extra_device_ms_per_prediction"] or 0) > 0
    return out


def _le(value, factor, reference) -> bool | None:
    if value is None or reference is None:
        return None
    return value <= factor * reference


def start_ray(progress: bool, attempts: int = 4, resources: dict | None = None,
              namespace: str = "coe-collage-bench", label: str = "collage bench") -> None:
    """ray.init, retried: on a heavily loaded host the raylet can give up waiting for its
    dashboard agent (~15 s) and the node fails to start; a later attempt usually works."""
    import ray

    from cluster.serve_env import with_serve_env

    with_serve_env(os.environ)
    for attempt in range(1, attempts + 1):
        try:
            ray.init(num_cpus=16, num_gpus=16, resources=resources or EMULATED_RESOURCES,
                     include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                     namespace=namespace)
            return
        except Exception as exc:  # noqa: BLE001 - Ray raises a bare Exception here
            ray.shutdown()
            if attempt == attempts:
                raise
            if progress:
                print(f"[{label}] ray.init attempt {attempt} failed: {exc}", flush=True)
            time.sleep(5)


def run_collage_bench(options: CollageBenchOptions, progress: bool = True) -> dict:
    """Start a private Ray + Serve, run every mode, stop them; the JSON report."""
    import ray
    from ray import serve

    from cost_model.device_time import emulation_note
    from load_tests.client.images import load_request_images
    from serve_app.cpu_priority import backup_runs_idle
    from zoo.calibrate import ensure_calibration

    ensure_calibration()
    images = load_request_images(limit=options.requests, split="test")
    os.environ.pop("RAY_ADDRESS", None)
    start_ray(progress)
    serve.start(http_options={"host": "127.0.0.1", "port": options.port})
    started = time.time()
    report: dict = {}
    plan = [(m, True) for m in MODES]
    if options.clean_runs:
        # the A/A control next to no_redundancy, as the collage app is on its other side
        plan += [("collage", False), ("no_redundancy", False)]
        if options.aa_control:
            plan.append(("control", False))
    windows: dict = {key: [] for key in plan}
    try:
        urls = deploy(plan, options)
        for key in plan:
            warm_up(urls[key], options, images)
        if options.rate == "auto":  # measured on the app the others are judged against
            probe = ("no_redundancy", False) if options.clean_runs else ("no_redundancy", True)
            if progress:
                print(f"[collage bench] capacity of {app_name(*probe)} "
                      f"({options.capacity_seconds:g} s, closed loop)", flush=True)
            report["capacity"] = measured_rate(urls[probe], options, images)
            options = options.model_copy(update={"rate": report["capacity"]["rate"]})
        per_round = len(images) // options.rounds
        for round_index in range(options.rounds):
            chunk = images[round_index * per_round:(round_index + 1) * per_round]
            order = plan if round_index % 2 == 0 else plan[::-1]
            for key in order:
                if progress:
                    print(f"[collage bench] round {round_index + 1}/{options.rounds} "
                          f"{app_name(*key)}", flush=True)
                windows[key].append(run_window(urls[key], options, chunk,
                                               options.seed + round_index))
    finally:
        serve.shutdown()
        ray.shutdown()
    rows = {key: summarise_mode(windows[key], key[1]) for key in plan}
    for mode in MODES:
        report[mode] = rows[(mode, True)]
    if options.clean_runs:
        base, coll = rows[("no_redundancy", False)], rows[("collage", False)]
        report["without_faults"] = compare_clean(base, coll)
        if options.aa_control:
            report["without_faults"]["aa_control"] = aa_noise_floor(
                base, rows[("control", False)])
    for row in rows.values():
        row.pop("labels", None)
        row.pop("sources", None)
    report["checks"] = checks(report)
    report["diagnosis"] = {"p99_floor": p99_floor(report)}  # not judged
    report["setup"] = {
        "options": options.model_dump(),
        "faults": f"{options.fault_fraction:.0%} of member calls delayed "
                  f"{options.fault_factor:g}x (without_faults runs: none)",
        "cascade": bench_cascade("collage", options, True),
        "load": f"open-loop poisson {options.rate:g} req/s, {options.requests} requests per "
                f"mode, {options.warmup} warm-up requests; traffic to 127.0.0.1 only",
        "note": emulation_note(True),
        "collage_forward_thread": "SCHED_IDLE (runs on CPU time the members leave idle: "
        "serve_app.cpu_priority.lower_cpu_priority(idle=True))" if backup_runs_idle()
        else "nice 19, like the members' forward threads",
        "started_unix": started,
        "seconds": round(time.time() - started, 1),
    }
    write_json_report(report, options.out, "collage_bench.json")
    return report
