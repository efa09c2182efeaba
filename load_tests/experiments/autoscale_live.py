"""`coe bench autoscale --live`: a step load on a private local Ray with the application-level
escalation-aware policy, replica counts from `serve.status()`, and the simulator on the same
step.

The members run on this CPU, so the load models here use the members' measured CPU call
times (1 torch thread), not their emulated GPU device times, plus `host_ms` per request;
the simulation of the same step uses the same models. GPU classes are EMULATED (logical
resources); provisioned dollars are what those replicas would cost on them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from foundation.paths import REPO_ROOT


class AutoscaleLiveOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cascade: str = str(REPO_ROOT / "configs" / "cifar10-coe-autoscale.yaml")
    low_rate: float = Field(default=2.0, gt=0)
    high_rate: float = Field(default=12.0, gt=0)
    seconds_each: float = Field(default=60.0, gt=0, le=300)
    host_ms_per_request: float = Field(
        default=150.0, ge=0, description="per-request time a replica spends on this shared "
        "CPU beyond the model's own measured time (sets where a replica is full)")
    headroom: float = Field(default=1.4, ge=1.0)
    http_port: int = 18706
    images: int = Field(default=300, ge=1)
    timeout_s: float = Field(default=60.0, gt=0)
    cold_start_s: float = Field(default=10.0, ge=0, description="simulation: replica start")


def _emulated_resources() -> dict[str, float]:
    from cost_model.catalog import load_catalog

    catalog = load_catalog()
    return {catalog.get(name).resource_name: 16 for name in catalog.classes}


def _deploy(raw: dict, url: str, timeout_s: float = 600.0) -> None:
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema

    from serve_app.deploy import wait_until_healthy

    _get_global_client().deploy_apps(ServeDeploySchema.model_validate(raw))
    wait_until_healthy(f"{url}/healthz", timeout_s)


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

    from cascade.config import load_cascade
    from cost_model.prices import PriceTable
    from cost_model.provisioned import provisioned_cost
    from load_tests.client.generator import run_load
    from load_tests.client.images import load_request_images
    from load_tests.client.replica_sampler import ServeReplicaSampler, placement_from_cascade
    from load_tests.client.schedules import step
    from planner.autoscale_controllers import EscalationAwareController
    from planner.cluster_sim import SimSettings, simulate_cluster
    from planner.sim_setup import app_policy_block, gear_behaviour, hard_classes, load_models
    from planner.sim_traces import step as step_trace
    from zoo.calibrate import ensure_calibration

    config = load_cascade(options.cascade)
    models = load_models(config, options.host_ms_per_request / 1000.0, time_source="cpu",
                         progress=progress)
    raw = {
        "proxy_location": "HeadOnly",
        "http_options": {"host": "127.0.0.1", "port": options.http_port},
        "applications": [{
            "name": "coe", "route_prefix": "/", "import_path": "serve_app.app:build_app",
            "args": {"config": str(Path(options.cascade).resolve())},
            "autoscaling_policy": app_policy_block(config, models, options.headroom),
        }],
    }
    ensure_calibration()
    os.environ.pop("RAY_ADDRESS", None)
    os.chdir(REPO_ROOT)  # Ray workers get the driver's cwd on sys.path
    url = f"http://127.0.0.1:{options.http_port}"
    ray.init(num_cpus=16, num_gpus=16, resources=_emulated_resources(),
             include_dashboard=False, namespace="coe-autoscale-live", logging_level="warning")
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": options.http_port})
        _deploy(raw, url)
        schedule = step([(options.low_rate, options.seconds_each),
                         (options.high_rate, options.seconds_each),
                         (options.low_rate, options.seconds_each)])
        images = load_request_images(options.images)
        sampler = ServeReplicaSampler(placement_from_cascade(config), interval_s=1.0,
                                      app_name="coe")
        total = int(schedule.expected_requests(3 * options.seconds_each) * 1.5) + 10
        t0 = time.time()
        result = run_load(f"{url}/v1/classify", images, schedule, max_requests=total,
                          max_seconds=3 * options.seconds_each, timeout_s=options.timeout_s,
                          progress=progress, sampler=sampler)
        time.sleep(2.0)
    finally:
        serve.shutdown()
        ray.shutdown()
    summary = result.summary
    lost = summary.sent - summary.ok
    live_replicas = replicas_by_phase(result.replica_timeline, t0, options.seconds_each)
    fixed_peak = {d: max(s.replicas for s in result.replica_timeline if s.deployment == d)
                  for d in {s.deployment for s in result.replica_timeline}}
    prices = PriceTable()
    peak_timeline = [s.model_copy(update={"replicas": fixed_peak[s.deployment]})
                     for s in result.replica_timeline]
    end = t0 + summary.duration_s
    live_cost = provisioned_cost(result.replica_timeline, prices, t0, end)
    peak_cost = provisioned_cost(peak_timeline, prices, t0, end)

    trace = step_trace(options.low_rate, options.high_rate, options.seconds_each, tick_s=0.5)
    hard = hard_classes(models)
    base = gear_behaviour(models, [t.threshold for t in models.tiers[:-1]], hard)
    scaling = [m.load for m in models.members]
    first = config.tiers[0].autoscaling
    controller = EscalationAwareController(
        scaling, options.headroom,
        first.upscale_delay_s if first else 30.0, first.downscale_delay_s if first else 600.0)
    price_s = {m.gpu_class: prices.price(m.gpu_class).usd_per_second for m in models.members}
    initial = {m.load.deployment: max(1, m.load.min_replicas) for m in models.members}
    sim = simulate_cluster(trace, models.by_tier(), [base], controller,
                           SimSettings(cold_start_s=options.cold_start_s, sample_every_s=1.0),
                           initial, price_s)
    sim_samples = []
    for i, t in enumerate(sim.timeline["t_s"]):
        for key, values in sim.timeline.items():
            if key.startswith("replicas:"):
                sim_samples.append(_Sample(t0 + t, key.split(":", 1)[1], values[i]))
    sim_replicas = replicas_by_phase(sim_samples, t0, options.seconds_each)
    report = {
        "kind": "LIVE step load on a private local Ray (GPU classes EMULATED, members on "
        "the CPU) and the SIMULATION of the same step with the same load models",
        "options": options.model_dump(),
        "live": {"sent": summary.sent, "ok": summary.ok, "lost": lost,
                 "status_counts": summary.status_counts, "p50_ms": summary.latency.p50_ms,
                 "p99_ms": summary.latency.p99_ms, "replicas_by_phase": live_replicas,
                 "provisioned_usd_per_1k_whole_gpu": live_cost.whole_gpu_usd / max(
                     summary.ok, 1) * 1000,
                 "fixed_at_peak_usd_per_1k_whole_gpu": peak_cost.whole_gpu_usd / max(
                     summary.ok, 1) * 1000,
                 "timeline": [s.model_dump() for s in result.replica_timeline]},
        "sim": {"p50_ms": sim.p50_ms, "p99_ms": sim.p99_ms, "lost": sim.lost,
                "replicas_by_phase": sim_replicas},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "autoscale_live.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


class _Sample:
    """A (t, deployment, replicas) point, shaped like a ReplicaSample for `replicas_by_phase`."""

    def __init__(self, t: float, deployment: str, replicas: int):
        self.t, self.deployment, self.replicas = t, deployment, replicas
