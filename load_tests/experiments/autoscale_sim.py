"""`coe bench autoscale --sim`: four autoscalers on one simulated trace, provisioned $/1k.

All four run the same cascade (its members, device times and escalation), the same trace and
seed, and the same delays; only the replica controller differs (planner.autoscale_controllers).
Everything here is SIMULATED, and device times are EMULATED from the catalog's device model.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from foundation.paths import REPO_ROOT

DEFAULT_TICK_S = {"diurnal": 5.0, "bursty": 1.0, "step": 0.5}
POLICIES = ("static_peak", "serve_default", "escalation_aware", "escalation_aware_gears")


class AutoscaleSimOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cascade: str = str(REPO_ROOT / "configs" / "cifar10-coe.yaml")
    trace: str = Field(default="diurnal", pattern="^(diurnal|bursty|step)$")
    peak_rate: float = Field(default=100_000.0, ge=10.0, le=100_000.0)
    tick_s: float | None = Field(
        default=None, gt=0, le=60, description="fluid tick; default: 5 s for a diurnal day, "
        "1 s bursty, 0.5 s step")
    headroom: float = Field(default=1.4, ge=1.0)
    slo_ms: float = Field(default=100.0, gt=0)
    cold_start_s: float = Field(default=30.0, ge=0)
    host_ms_per_request: float = Field(
        default=1.0, ge=0, description="per-request work in a replica outside the device "
        "(Serve, deserialisation): an ASSUMPTION, it caps a replica at 1000 req/s")
    target_ongoing_requests: float = Field(default=2.0, gt=0)
    upscale_delay_s: float = Field(default=30.0, ge=0)
    downscale_delay_s: float = Field(default=600.0, ge=0)
    max_replicas: int = Field(default=4096, ge=1)
    gear_budget_fraction: float = Field(
        default=0.6, gt=0, le=1, description="gears: the replica budget is what the "
        "configured thresholds need at this fraction of the peak")
    top_gear: Literal["plan", "most_accurate"] = Field(
        default="plan",
        description="gears: 'plan' drops the gears that escalate more than the configured "
        "thresholds (gears only trade accuracy under load); 'most_accurate' keeps every "
        "Pareto gear")
    seed: int = 0


def _controllers(options, models, trace, gear_set, behaviours, gear_behaviours):
    from cascade.autoscale_policy import desired_replicas
    from planner.autoscale_controllers import (
        EscalationAwareController,
        ServeDefaultController,
        StaticController,
    )

    loads = models.load_models
    delays = (options.upscale_delay_s, options.downscale_delay_s)
    base = behaviours[0]
    mixes = (float(trace.hard_mix.min()), float(trace.hard_mix.max()))
    worst_reach = [max(float(base.reach(m)[k]) for m in mixes) for k in range(len(models.tiers))]
    peak = desired_replicas(trace.peak_rate, worst_reach, loads, options.headroom)
    start_reach = behaviours[0].reach(float(trace.hard_mix[0]))
    start = desired_replicas(float(trace.rate_per_s[0]), start_reach, loads, options.headroom)
    # the gears start in gear 0, so their replicas are sized for gear 0's reach
    start_gears = desired_replicas(float(trace.rate_per_s[0]),
                                   gear_behaviours[0].reach(float(trace.hard_mix[0])), loads,
                                   options.headroom)
    return {
        "static_peak": (StaticController(peak), peak),
        "serve_default": (ServeDefaultController(
            loads, options.target_ongoing_requests, *delays), start),
        "escalation_aware": (EscalationAwareController(
            loads, options.headroom, *delays), start),
        "escalation_aware_gears": (EscalationAwareController(
            loads, options.headroom, *delays, gears=gear_set.gears,
            hysteresis=gear_set.hysteresis,
            warmup_s=options.cold_start_s + options.upscale_delay_s + 10.0), start_gears),
    }


def plan_bench_gears(options, models, trace):
    """Gears over the cascade's models; the capacity budget is what the configured
    thresholds need at `gear_budget_fraction` x the peak (with the trace's hardest mix)."""
    from cascade.autoscale_policy import desired_replicas
    from planner.gears import escalation_ceiling, plan_gears
    from planner.sim_setup import gear_behaviour, gear_weights, hard_classes

    hard = hard_classes(models)
    configured = [t.threshold for t in models.tiers[:-1]]
    base = gear_behaviour(models, configured, hard)
    need = desired_replicas(options.gear_budget_fraction * trace.peak_rate,
                            base.reach(float(trace.hard_mix.max())), models.load_models,
                            options.headroom)
    weights = gear_weights(models)
    budget = sum(n * weights[k] for k, n in need.items())
    probs, labels = models.calibration
    ceiling = escalation_ceiling(options.top_gear, models.tiers, probs, labels, models.costs)
    gear_set = plan_gears(models.tiers, probs, labels, models.costs, models.load_models,
                          weights, budget, options.headroom, max_escalation=ceiling)
    behaviours = [gear_behaviour(models, g.thresholds, hard) for g in gear_set.gears]
    return gear_set, behaviours, hard, base


def oracle_bound(options, models, trace, base, settings, price_s, progress):
    """The oracle follower on the same trace (planner.autoscale_controllers.OracleFollower):
    what no causal policy without gears can undercut at this headroom."""
    from planner.autoscale_controllers import OracleFollower
    from planner.cluster_sim import simulate_cluster

    lead = options.cold_start_s + settings.autoscale_period_s
    oracle = OracleFollower(models.load_models, options.headroom, trace, base, lead)
    return simulate_cluster(trace, models.by_tier(), [base], oracle, settings,
                            oracle.replicas_at(0.0), price_s, progress=progress)


def plot_timelines(results: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    any_tl = next(iter(results.values())).timeline
    hours = [t / 3600 for t in any_tl["t_s"]]
    top.plot(hours, any_tl["rate_per_s"], color="black")
    top.set_ylabel("offered load (req/s)")
    top.set_title(title)
    for name, result in results.items():
        tl = result.timeline
        bottom.step([t / 3600 for t in tl["t_s"]], tl["gpus"], where="post", label=name)
    bottom.set_ylabel("whole GPUs held (all classes)")
    bottom.set_xlabel("hours")
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_autoscale_sim(options: AutoscaleSimOptions, out: Path, progress: bool = True) -> dict:
    from cascade.config import load_cascade
    from cost_model.device_time import emulation_note
    from cost_model.prices import PriceTable
    from planner.cluster_sim import SimSettings, simulate_cluster
    from planner.sim_setup import load_models
    from planner.sim_traces import make_trace

    started = time.monotonic()
    config = load_cascade(options.cascade)
    models = load_models(config, options.host_ms_per_request / 1000.0,
                         max_replicas=options.max_replicas, progress=progress)
    tick = options.tick_s or DEFAULT_TICK_S[options.trace]
    trace = make_trace(options.trace, options.peak_rate, tick_s=tick)
    gear_set, behaviours, hard, base = plan_bench_gears(options, models, trace)
    prices = PriceTable()
    price_s = {m.gpu_class: prices.price(m.gpu_class).usd_per_second for m in models.members}
    settings = SimSettings(cold_start_s=options.cold_start_s, slo_ms=options.slo_ms,
                           seed=options.seed, look_back_s=30.0,
                           sample_every_s=max(tick, trace.duration_s / 1440))
    results, timings = {}, {}
    for name, (controller, initial) in _controllers(
            options, models, trace, gear_set, [base], behaviours).items():
        t0 = time.monotonic()
        gears = behaviours if name == "escalation_aware_gears" else [base]
        results[name] = simulate_cluster(
            trace, models.by_tier(), gears, controller, settings, initial, price_s,
            progress=progress)
        timings[name] = time.monotonic() - t0
    oracle = oracle_bound(options, models, trace, base, settings, price_s, progress)
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"autoscale_sim_{options.trace}.png"
    plot_timelines(results, png, f"SIMULATED {options.trace}, peak {options.peak_rate:g} req/s "
                   "(device times EMULATED)")
    static = results["static_peak"].usd_per_1k
    serve = results["serve_default"].usd_per_1k
    report = {
        "kind": "SIMULATED (planner.cluster_sim); device times EMULATED",
        "note": emulation_note(models.emulated),
        "options": options.model_dump(),
        "trace": {"name": trace.name, "duration_s": trace.duration_s, "tick_s": trace.tick_s,
                  "peak_rate_per_s": trace.peak_rate,
                  "mean_rate_per_s": float(trace.rate_per_s.mean())},
        "hard_classes": hard,
        "gears": gear_set.model_dump(),
        "policies": {name: r.summary() for name, r in results.items()},
        "ratios": {name: {"vs_static_peak": r.usd_per_1k / static,
                          "vs_serve_default": r.usd_per_1k / serve}
                   for name, r in results.items()},
        "bounds": {"oracle_follower": {
            **oracle.summary(), "vs_static_peak": oracle.usd_per_1k / static,
            "note": "knows the trace ahead: sizes every tier for the coming rate x reach "
                    "(same function, same headroom, no gears), up a cold start early, down "
                    "at once; a bound, not a policy"}},
        "sim_seconds": timings,
        "wall_s": time.monotonic() - started,
        "png": str(png),
        "timelines": {name: r.timeline for name, r in results.items()},
    }
    (out / f"autoscale_sim_{options.trace}.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
