"""`coe bench autoscale --live`: a step load on a private local Ray with the application-level
escalation-aware policy, replica counts from `serve.status()`, and the simulator on the same
step.

The members run on this CPU, so the load models here use the members' measured CPU call
times (1 torch thread), not their emulated GPU device times, plus a per-request host time.
That host time is MEASURED on the deployed app before the step (a short closed loop with
one client; see `autoscale_calibration` for what is measured and how) unless
`host_ms_per_request` is given; the figure in use feeds both the simulator and the live
policy, which is therefore deployed only after the calibration. Step rates not given are
derived from the same figure and the host's measured CPU capacity. GPU classes are
EMULATED (logical resources); provisioned dollars are what those replicas would cost on
them.

The load client runs in a spawned child process (load_tests.client.subprocess_load), so the
driver's replica and CPU samplers do not stall it. The CPU of every process is sampled per
step phase by role (load_tests.experiments.host_cpu) and reported next to the simulation,
whose shared-host model takes the idle draw under the step's conditions from this run. The
judged simulation replays each phase's measured CPU per request; the forecast from the
calibration (and each replica start's CPU) is reported next to it, not judged.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cluster.serve_env import with_serve_env
from foundation.paths import REPO_ROOT


class AutoscaleLiveOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cascade: str = str(REPO_ROOT / "configs" / "cifar10-coe-autoscale.yaml")
    low_rate: float | None = Field(
        default=None, gt=0, description="None: derived from the calibration (r1 / 2)")
    high_rate: float | None = Field(
        default=None, gt=0, description="None: derived from the calibration (middle of the "
        "2-replica band of tier 0, capped at max_host_load x the host's capacity)")
    seconds_each: float = Field(default=60.0, gt=0, le=300)
    host_ms_per_request: float | None = Field(
        default=None, ge=0, description="per-request time a replica spends on this shared "
        "CPU beyond the model's own measured time (sets where a replica is full); None: "
        "measured in the calibration phase")
    calibration_s: float = Field(default=15.0, gt=0, le=120,
                                 description="each calibration phase before the step: a "
                                 "closed loop with 1 client, then Poisson arrivals")
    calibration_open_fraction: float = Field(
        default=0.15, ge=0, le=1.0, description="the host time is measured with Poisson "
        "arrivals at this fraction of the closed loop's rate, like the step's load; 0: from "
        "the closed loop")
    warmup_s: float = Field(default=3.0, ge=0, description="discarded, before calibrating")
    idle_s: float = Field(default=5.0, gt=0, description="idle CPU draw, before calibrating")
    max_host_load: float = Field(
        default=0.45, gt=0, le=1.0, description="derived high step: at most this x host "
        "capacity (the calibration's CPU per request is about 40 percent low under load, replica "
        "starts included; at 0.6 the high step kept the host 80-93 percent busy)")
    headroom: float = Field(default=1.4, ge=1.0)
    http_port: int = 18706
    images: int = Field(default=300, ge=1)
    timeout_s: float = Field(default=60.0, gt=0)
    cold_start_s: float = Field(default=10.0, ge=0, description="simulation: replica start")
    retry_503: bool = Field(default=True, description="the load client waits out a 503's "
                            "Retry-After and re-sends (within timeout_s), as a client of an "
                            "autoscaled service should; retries are reported")


def _emulated_resources() -> dict[str, float]:
    from cost_model.catalog import load_catalog

    catalog = load_catalog()
    return {catalog.get(name).resource_name: 16 for name in catalog.classes}


def _deploy(raw: dict, url: str, timeout_s: float = 600.0) -> float:
    """Deploy (or redeploy) and wait until the app is RUNNING with every deployment HEALTHY
    and answers /healthz; return the seconds it took."""
    from ray import serve
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema

    from serve_app.deploy import wait_until_healthy

    started = time.monotonic()
    _get_global_client().deploy_apps(ServeDeploySchema.model_validate(raw))
    time.sleep(2.0)  # let the controller take the new config before the status is read
    while time.monotonic() - started < timeout_s:
        app = serve.status().applications.get("coe")
        if app is not None and str(getattr(app.status, "value", app.status)) == "RUNNING" and all(
                str(getattr(d.status, "value", d.status)) == "HEALTHY"
                for d in app.deployments.values()):
            break
        time.sleep(1.0)
    wait_until_healthy(f"{url}/healthz", max(timeout_s - (time.monotonic() - started), 1.0))
    return time.monotonic() - started


def _tree_cpu_seconds() -> float:
    """CPU seconds used so far by this process and all its descendants: the load client,
    and the local Ray (GCS, raylet, Serve controller, proxy, replicas)."""
    from load_tests.experiments.host_cpu import sample_cpu_by_role

    return sum(sample_cpu_by_role().values())


def _app_replicas() -> int:
    """Replicas of the `coe` app's deployments, from `serve.status()`."""
    from ray import serve

    app = serve.status().applications.get("coe")
    if app is None:
        return 0
    return sum(sum(d.replica_states.values()) for d in app.deployments.values())


def _calibrate(url: str, images, options: AutoscaleLiveOptions, fixed_s: list[float],
               progress: bool) -> dict:
    """The calibration phase: a warm-up, the idle CPU draw, a closed loop with one client
    (the host's CPU capacity), then Poisson arrivals (the host time; unless
    `calibration_open_fraction` is 0); see autoscale_calibration."""
    from load_tests.client.schedules import closed, poisson
    from load_tests.client.subprocess_load import run_load_in_child
    from load_tests.experiments.autoscale_calibration import (
        host_capacity,
        host_seconds_from_latency,
    )
    from load_tests.experiments.host_cpu import HostCpuSampler, cpu_by_window
    from planner.cluster_sim import shared_host_stretch

    target = f"{url}/v1/classify"
    if options.warmup_s > 0:
        run_load_in_child(target, images, closed(1), max_requests=10**6,
                          max_seconds=options.warmup_s, timeout_s=options.timeout_s,
                          progress=False)
    cpu0 = _tree_cpu_seconds()
    time.sleep(options.idle_s)
    idle_per_s = max(0.0, (_tree_cpu_seconds() - cpu0) / options.idle_s)
    # the CPU of the load's own span, from the per-process samples (the child client's
    # start-up, importing aiohttp, falls before it)
    cores = float(len(os.sched_getaffinity(0)))
    sampler = HostCpuSampler(interval_s=0.5).start()
    result = run_load_in_child(target, images, closed(1), max_requests=10**6,
                               max_seconds=options.calibration_s, timeout_s=options.timeout_s,
                               progress=progress)
    span = (result.started_at_unix, result.started_at_unix + result.summary.duration_s)
    by_role = cpu_by_window(sampler.stop(), {"calibration": span},
                            {"calibration": result.summary.ok}, cores)["calibration"]
    cpu_s, seconds = sum(by_role["cpu_seconds_by_role"].values()), by_role["seconds"]
    ok = [r for r in result.records if r.ok and r.exit_tier_index is not None]
    capacity = host_capacity(cpu_s, seconds, idle_per_s, len(ok), cores)
    closed_host = host_seconds_from_latency(
        [(r.latency_s, r.exit_tier_index + 1) for r in ok], fixed_s)
    host, method, open_loop = closed_host, "closed loop, 1 client", None
    if options.calibration_open_fraction > 0:
        # the host time under the step's kind of load: Poisson arrivals, so requests meet
        # idle processes and now and then each other; the simulator's shared-host stretch
        # at that rate is divided out, as the simulation multiplies it back in
        rate = options.calibration_open_fraction * len(ok) / seconds
        stretch = shared_host_stretch(rate, capacity["cpu_seconds_per_request"], int(cores),
                                      other_busy_cores=idle_per_s)
        poisson_run = run_load_in_child(target, images, poisson(rate, seed=1),
                                        max_requests=10**6, max_seconds=options.calibration_s,
                                        timeout_s=options.timeout_s, progress=progress)
        open_ok = [r for r in poisson_run.records if r.ok and r.exit_tier_index is not None]
        host = host_seconds_from_latency(
            [(r.latency_s, r.exit_tier_index + 1) for r in open_ok], fixed_s, stretch)
        method = (f"open loop, Poisson at {rate:.2f} req/s "
                  f"({options.calibration_open_fraction:g} x the closed loop's rate), the "
                  f"shared-host stretch {stretch:.3f} divided out")
        open_loop = {"rate_rps": rate, "ok": len(open_ok), "stretch": stretch,
                     "p50_latency_ms": host["p50_latency_s"] * 1000.0}
    return {"method": f"{method}: median over requests of (end-to-end latency "
            "- sum over the tiers it ran of (batch wait + slowest member's profiled CPU "
            "call at batch 1 + simulator hop)) / tiers ran; includes proxy and ingress "
            "work (an upper bound on the member replica's own overhead)",
            "closed_loop_host_ms": closed_host["host_seconds_per_request"] * 1000.0,
            "closed_loop_p50_latency_ms": closed_host["p50_latency_s"] * 1000.0,
            "open_loop": open_loop,
            "seconds": seconds, "sent": result.summary.sent, "ok": len(ok),
            "host_ms_per_request": host["host_seconds_per_request"] * 1000.0,
            "median_residual_ms": host["median_residual_s"] * 1000.0,
            "p50_latency_ms": host["p50_latency_s"] * 1000.0,
            "mean_tiers_ran": host["mean_tiers_ran"],
            "fixed_ms_per_tier": [x * 1000.0 for x in host["fixed_seconds_per_tier"]],
            "cpu": {**capacity, "measured_over": "this process and its descendants (load "
                    "client + the private Ray), above their idle draw"},
            "cpu_by_role": by_role}


def replicas_by_phase(timeline, t0: float, seconds_each: float) -> dict:
    """Mean replicas per member deployment in the second half of each step phase."""
    out: dict[str, dict[str, float]] = {}
    for phase, name in enumerate(("low", "high", "low_again")):
        lo, hi = t0 + (phase + 0.5) * seconds_each, t0 + (phase + 1) * seconds_each
        per: dict[str, list[int]] = {}
        for s in timeline:
            if lo <= s.t < hi:
                per.setdefault(s.deployment, []).append(s.replicas)
        out[name] = {k: sum(v) / len(v) for k, v in per.items() if v}
    return out


def run_autoscale_live(options: AutoscaleLiveOptions, out: Path, progress: bool = True) -> dict:
    import ray
    from ray import serve

    from cascade.autoscaling import policy_timing
    from cascade.config import load_cascade
    from cost_model.prices import PriceTable
    from cost_model.provisioned import provisioned_cost
    from load_tests.client.images import load_request_images
    from load_tests.client.replica_sampler import ServeReplicaSampler, placement_from_cascade
    from load_tests.client.schedules import step
    from load_tests.client.subprocess_load import run_load_in_child
    from load_tests.experiments.autoscale_calibration import (
        PHASES,
        compare_live_sim,
        derive_step_rates,
        measured_host_cpu_by_time,
        p50_by_phase,
        p50_by_window,
        phase_of,
        ratio_check,
        sim_p50_by_window,
        step_rates_that_scale,
        tier_fixed_seconds,
    )
    from load_tests.experiments.host_cpu import HostCpuSampler, cpu_by_window
    from planner.autoscale_controllers import EscalationAwareController
    from planner.cluster_sim import SimSettings, simulate_cluster
    from planner.sim_setup import (
        app_policy_block,
        gear_behaviour,
        hard_classes,
        load_models,
        with_host_seconds,
    )
    from planner.sim_traces import step as step_trace
    from zoo.calibrate import ensure_calibration

    config = load_cascade(options.cascade)
    base_models = load_models(config, 0.0, time_source="cpu", progress=progress)
    # The live app's timing, not Serve's defaults (10-s pushes, 30-s look-back): the
    # ingress pushes every 2 s and the policy's rate spans three pushes.
    timing = policy_timing()
    settings = SimSettings(cold_start_s=options.cold_start_s, sample_every_s=1.0,
                           autoscale_period_s=timing["min_interval_s"],
                           look_back_s=timing["rate_window_s"])
    fixed_s = tier_fixed_seconds([[m.load for m in tier] for tier in base_models.by_tier()],
                                 settings.hop_latency_s)
    app = {"name": "coe", "route_prefix": "/", "import_path": "serve_app.app:build_app",
           "args": {"config": str(Path(options.cascade).resolve())}}
    raw = {"proxy_location": "HeadOnly",
           "http_options": {"host": "127.0.0.1", "port": options.http_port},
           "applications": [app]}
    ensure_calibration()
    os.environ.pop("RAY_ADDRESS", None)
    with_serve_env(os.environ)
    os.chdir(REPO_ROOT)  # Ray workers get the driver's cwd on sys.path
    url = f"http://127.0.0.1:{options.http_port}"
    ray.init(num_cpus=16, num_gpus=16, resources=_emulated_resources(),
             include_dashboard=False, namespace="coe-autoscale-live", logging_level="warning")
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": options.http_port})
        # 1. without the app policy (Serve's own autoscaler; 1 client keeps 1 replica each)
        cpu_before = _tree_cpu_seconds()
        first_deploy_s = _deploy(raw, url)
        starts = _app_replicas()
        cpu_per_start = (_tree_cpu_seconds() - cpu_before) / max(starts, 1)
        images = load_request_images(options.images)
        calibration = _calibrate(url, images, options, fixed_s, progress)
        given = options.host_ms_per_request is not None
        host_ms = options.host_ms_per_request if given else calibration["host_ms_per_request"]
        calibration.update(host_ms_source="given" if given else "measured",
                           host_ms_measured=calibration["host_ms_per_request"],
                           host_ms_used=host_ms)
        models = with_host_seconds(base_models, host_ms / 1000.0)
        tier0 = [m.load for m in models.members if m.load.tier == 0]
        derive = (step_rates_that_scale if options.low_rate is None
                  and options.high_rate is None else derive_step_rates)
        rates = derive(tier0, options.headroom, calibration["cpu"]["host_capacity_rps"],
                       options.max_host_load)
        headroom = rates.get("headroom_used", options.headroom)
        low = options.low_rate if options.low_rate is not None else rates["low_rate"]
        high = options.high_rate if options.high_rate is not None else rates["high_rate"]
        rates.update(low_rate_used=low, high_rate_used=high,
                     low_rate_source="given" if options.low_rate is not None else "derived",
                     high_rate_source="given" if options.high_rate is not None else "derived")
        # 2. the same app with the policy sized by the figure in use
        app["autoscaling_policy"] = app_policy_block(config, models, headroom)
        redeploy_s = _deploy(raw, url)
        # the idle draw under the step's conditions: the policy running in the controller
        # and the replica sampler polling, no requests
        idle_sampler = ServeReplicaSampler(placement_from_cascade(config), interval_s=1.0,
                                           app_name="coe")
        idle_sampler.start()
        idle_cpu0, idle_t0 = _tree_cpu_seconds(), time.monotonic()
        time.sleep(options.idle_s)
        step_idle_cores = (_tree_cpu_seconds() - idle_cpu0) / (time.monotonic() - idle_t0)
        idle_sampler.stop()
        calibration.update(
            cpu_seconds_per_replica_start=cpu_per_start, replicas_at_first_deploy=starts,
            step_idle_cores=step_idle_cores,
            shared_host_note="cpu_seconds_per_replica_start: the first deploy's whole CPU "
            "over the replicas it started (an upper bound: it includes the controller's "
            "work); step_idle_cores: after the policy deploy, no requests, the replica "
            "sampler running, the CPU sampler not")
        schedule = step([(low, options.seconds_each), (high, options.seconds_each),
                         (low, options.seconds_each)])
        sampler = ServeReplicaSampler(placement_from_cascade(config), interval_s=1.0,
                                      app_name="coe")
        total = int(schedule.expected_requests(3 * options.seconds_each) * 1.5) + 10
        host_cpu = HostCpuSampler().start()
        result = run_load_in_child(f"{url}/v1/classify", images, schedule, max_requests=total,
                          max_seconds=3 * options.seconds_each, timeout_s=options.timeout_s,
                          progress=progress, sampler=sampler, retry_503=options.retry_503)
        time.sleep(2.0)
        cpu_samples = host_cpu.stop()
        t0 = result.started_at_unix  # the child's clock start: records' t_send count from it
    finally:
        serve.shutdown()
        ray.shutdown()
    summary = result.summary
    lost = summary.sent - summary.ok
    live_replicas = replicas_by_phase(result.replica_timeline, t0, options.seconds_each)
    live_samples = [(r.t_send, r.latency_s * 1000.0) for r in result.records if r.ok]
    live_p50 = p50_by_phase(live_samples, options.seconds_each)
    # the same requests' time inside the cascade (the answer's own latency_ms): where a gap
    # to the simulation sits, in the cascade or in front of it (proxy, client)
    inside_p50 = p50_by_phase([(r.t_send, r.server_latency_ms) for r in result.records
                               if r.ok and r.server_latency_ms is not None],
                              options.seconds_each)
    # where the shared host's CPU went in each phase (the simulator's shared-host stretch
    # assumes the calibration's CPU per request at every load)
    sent_by_phase = {p: 0 for p in PHASES}
    for r in result.records:
        phase = phase_of(r.t_send, options.seconds_each)
        if phase is not None:
            sent_by_phase[phase] += 1
    windows = {p: (t0 + i * options.seconds_each, t0 + (i + 1) * options.seconds_each)
               for i, p in enumerate(PHASES)}
    host_cpu_by_phase = cpu_by_window(cpu_samples, windows, sent_by_phase,
                                      calibration["cpu"]["cores"])
    fixed_peak = {d: max(s.replicas for s in result.replica_timeline if s.deployment == d)
                  for d in {s.deployment for s in result.replica_timeline}}
    prices = PriceTable()
    peak_timeline = [s.model_copy(update={"replicas": fixed_peak[s.deployment]})
                     for s in result.replica_timeline]
    end = t0 + summary.duration_s
    live_cost = provisioned_cost(result.replica_timeline, prices, t0, end)
    peak_cost = provisioned_cost(peak_timeline, prices, t0, end)

    trace = step_trace(low, high, options.seconds_each, tick_s=0.5)
    hard = hard_classes(models)
    base = gear_behaviour(models, [t.threshold for t in models.tiers[:-1]], hard)
    scaling = [m.load for m in models.members]
    first = config.tiers[0].autoscaling
    price_s = {m.gpu_class: prices.price(m.gpu_class).usd_per_second for m in models.members}
    initial = {m.load.deployment: max(1, m.load.min_replicas) for m in models.members}
    # the live members share this host's cores: the simulation of the live check does too.
    # The prediction takes the host's cost from the calibration before the step.
    predicted_settings = replace(
        settings, host_cores=int(calibration["cpu"]["cores"]),
        host_cpu_seconds_per_request=calibration["cpu"]["cpu_seconds_per_request"],
        host_idle_cores=calibration["step_idle_cores"],
        host_cpu_seconds_per_start=calibration["cpu_seconds_per_replica_start"])

    def simulate(sim_settings):
        """One simulation of the step, with a fresh controller (it keeps state)."""
        controller = EscalationAwareController(
            scaling, headroom, first.upscale_delay_s if first else 30.0,
            first.downscale_delay_s if first else 600.0)
        return simulate_cluster(trace, models.by_tier(), [base], controller, sim_settings,
                                initial, price_s)

    total_s = len(PHASES) * options.seconds_each

    def sim_p50_by_phase(result) -> dict:
        return dict(zip(PHASES, sim_p50_by_window(result, total_s, options.seconds_each),
                        strict=True))

    predicted = simulate(predicted_settings)
    # The judged simulation replays the step with the CPU per request this host really paid
    # in each phase (every process: members, ingress, proxy, client, replica starts), because
    # the shared host's speed moves from minute to minute and a 15-s calibration cannot know
    # it; what is checked is the model of queues, batching, cold starts, escalation and the
    # policy. Without a figure for every phase it falls back to the prediction.
    host_cpu_by_time = measured_host_cpu_by_time(
        host_cpu_by_phase, predicted_settings.host_idle_cores, options.seconds_each)
    if host_cpu_by_time:
        settings = replace(predicted_settings, host_cpu_by_time=host_cpu_by_time,
                           host_cpu_seconds_per_start=0.0)
        sim = simulate(settings)
        host_cost_source = "measured in each phase of the live run (replay)"
    else:
        settings, sim = predicted_settings, predicted
        host_cost_source = "the calibration (a phase had no CPU figure)"
    sim_samples = []
    for i, t in enumerate(sim.timeline["t_s"]):
        for key, values in sim.timeline.items():
            if key.startswith("replicas:"):
                sim_samples.append(_Sample(t0 + t, key.split(":", 1)[1], values[i]))
    sim_replicas = replicas_by_phase(sim_samples, t0, options.seconds_each)
    sim_p50 = sim_p50_by_phase(sim)
    comparison = compare_live_sim(live_p50, sim_p50, live_replicas, sim_replicas)
    predicted_p50 = sim_p50_by_phase(predicted)
    prediction = {
        "cpu_seconds_per_request": predicted_settings.host_cpu_seconds_per_request,
        "cpu_seconds_per_replica_start": predicted_settings.host_cpu_seconds_per_start,
        "p50_ms_by_phase": {p: ratio_check(predicted_p50[p], live_p50.get(p))
                            for p in PHASES},
        "note": "diagnosis, not judged: the simulation with the host's cost predicted from "
        "the calibration before the step (its CPU per request at every load, plus each "
        "replica start's CPU over its cold start)"}
    window_s = 10.0
    live_p50_by_10s = p50_by_window(live_samples, total_s, window_s)
    sim_p50_by_10s = sim_p50_by_window(sim, total_s, window_s)
    report = {
        "kind": "LIVE step load on a private local Ray (GPU classes EMULATED, members on "
        "the CPU) and the SIMULATION of the same step with the same load models (host time "
        f"per request {calibration['host_ms_source']}: {host_ms:.1f} ms)",
        "options": options.model_dump(),
        "calibration": {**calibration, "first_deploy_s": first_deploy_s,
                        "policy_redeploy_s": redeploy_s},
        "rates": rates,
        "live": {"sent": summary.sent, "ok": summary.ok, "lost": lost,
                 "status_counts": summary.status_counts,
                 "retries_after_503": summary.retries_after_503,
                 "requests_retried_after_503": sum(
                     1 for r in result.records if r.retries_after_503),
                 "p50_ms": summary.latency.p50_ms,
                 "p99_ms": summary.latency.p99_ms, "p50_ms_by_phase": live_p50,
                 "inside_cascade_p50_ms_by_phase": inside_p50,
                 "host_cpu_by_phase": host_cpu_by_phase,
                 "replicas_by_phase": live_replicas,
                 "provisioned_usd_per_1k_whole_gpu": live_cost.whole_gpu_usd / max(
                     summary.ok, 1) * 1000,
                 "fixed_at_peak_usd_per_1k_whole_gpu": peak_cost.whole_gpu_usd / max(
                     summary.ok, 1) * 1000,
                 "timeline": [s.model_dump() for s in result.replica_timeline]},
        "sim": {"p50_ms": sim.p50_ms, "p99_ms": sim.p99_ms, "lost": sim.lost,
                "p50_ms_by_phase": sim_p50, "replicas_by_phase": sim_replicas,
                "shared_host": {"cores": settings.host_cores,
                                "host_cost_from": host_cost_source,
                                "cpu_seconds_per_request": settings.host_cpu_seconds_per_request,
                                "cpu_seconds_per_request_by_time": settings.host_cpu_by_time,
                                "idle_cores": settings.host_idle_cores,
                                "cpu_seconds_per_replica_start":
                                    settings.host_cpu_seconds_per_start,
                                "model": "every tier's latency x the M/M/c mean-response "
                                "stretch at the host's CPU utilisation (Erlang C): requests' "
                                "CPU + the idle draw (+ in the prediction, starting replicas' "
                                "CPU spread over the cold start; a replay's measured CPU "
                                "already holds it)"}},
        "sim_predicted_from_calibration": prediction,
        "p50_ms_by_10s": {"live": live_p50_by_10s, "sim": sim_p50_by_10s,
                          "note": "diagnosis, not judged: live by send time, sim by the "
                          "tick answered; where in each phase the two part"},
        "comparison": {**comparison, "note": "p50: requests of the whole phase (live: by send "
                       "time; sim: by the tick they were answered); replicas: mean over the "
                       "second half of each phase; ratio = sim / live; within_25pct: "
                       "|ratio - 1| <= 0.25"},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "autoscale_live.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


class _Sample:
    """A (t, deployment, replicas) point, shaped like a ReplicaSample for `replicas_by_phase`."""

    def __init__(self, t: float, deployment: str, replicas: int):
        self.t, self.deployment, self.replicas = t, deployment, replicas
