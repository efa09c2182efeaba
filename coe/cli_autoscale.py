"""`coe bench autoscale` and `coe plan --gears`: the adaptive-capacity commands.

Kept apart from cli_bench.py / cli_plan.py, which only hold a one-line hook each.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from foundation.paths import REPO_ROOT

DEFAULT_CASCADE = REPO_ROOT / "configs" / "cifar10-coe.yaml"


def register_bench(commands: argparse._SubParsersAction) -> None:
    from load_tests.experiments.autoscale_live import AutoscaleLiveOptions
    from load_tests.experiments.autoscale_sim import AutoscaleSimOptions

    d = AutoscaleSimOptions.model_fields
    p = commands.add_parser(
        "autoscale", help="autoscalers compared on a SIMULATED trace (provisioned $/1k)",
        description="Run static peak sizing, a model of Serve's default autoscaler, the "
        "escalation-aware policy and the same with load gears through the serving simulator "
        "(planner.cluster_sim) on one trace; print provisioned $/1k in whole GPUs, p50/p99 "
        "and the SLO violation rate of each, and write a JSON report and a PNG. SIMULATED; "
        "device times EMULATED from the catalog's device model.",
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--sim", action="store_true", help="simulate the four policies")
    mode.add_argument("--live", action="store_true",
                      help="step load on a private local Ray (ports: --http-port) with the "
                      "escalation-aware app policy, and the simulator on the same step")
    p.add_argument("--http-port", type=int, default=18706, help="--live: Serve HTTP port")
    p.add_argument("--seconds-each", type=float, default=60.0, help="--live: step length")
    p.add_argument("--host-ms-per-request", type=float, default=None,
                   help="--live: per-request host time in a replica, given (default: "
                   "measured in a closed-loop calibration on the deployed app)")
    p.add_argument("--low-rate", type=float, default=None,
                   help="--live: low step, req/s (default: derived from the calibration)")
    p.add_argument("--high-rate", type=float, default=None,
                   help="--live: high step, req/s (default: derived from the calibration)")
    p.add_argument("--calibration-s", type=float, default=15.0,
                   help="--live: length of each calibration phase before the step (a "
                   "closed loop with 1 client, then Poisson arrivals)")
    live_fields = AutoscaleLiveOptions.model_fields
    p.add_argument("--max-host-load", type=float,
                   default=live_fields["max_host_load"].default,
                   help="--live: " + live_fields["max_host_load"].description.replace("%", "%%"))
    p.add_argument("--calibration-open-fraction", type=float,
                   default=live_fields["calibration_open_fraction"].default,
                   help="--live: " + live_fields["calibration_open_fraction"].description.replace(
                       "%", "%%"))
    p.add_argument("--no-retry-503", action="store_true",
                   help="--live: count a 503 as the request's end (default: the client waits "
                   "out Retry-After and re-sends within the timeout, retries reported)")
    p.add_argument("--trace", default=d["trace"].default, choices=["diurnal", "bursty", "step"])
    p.add_argument("--cascade", default=str(DEFAULT_CASCADE))
    p.add_argument("--peak-rate", type=float, default=d["peak_rate"].default,
                   help="peak requests/s, 10 to 100000 (default: %(default)s)")
    p.add_argument("--tick-s", type=float, default=None,
                   help="fluid tick (default: 5 s diurnal, 1 s bursty, 0.5 s step)")
    p.add_argument("--slo-ms", type=float, default=d["slo_ms"].default)
    p.add_argument("--headroom", type=float, default=d["headroom"].default)
    p.add_argument("--host-ms", type=float, default=d["host_ms_per_request"].default,
                   help="per-request host work in a replica, an assumption (default: "
                   "%(default)s)")
    p.add_argument("--cold-start-s", type=float, default=d["cold_start_s"].default)
    p.add_argument("--target-ongoing-requests", type=float,
                   default=d["target_ongoing_requests"].default)
    p.add_argument("--gear-budget-fraction", type=float,
                   default=d["gear_budget_fraction"].default,
                   help="gears: the replica budget is what the configured thresholds need at "
                   "this fraction of the peak (default: %(default)s)")
    p.add_argument("--top-gear", default=d["top_gear"].default,
                   choices=["plan", "most_accurate"], help=d["top_gear"].description)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="reports/autoscale", help="report directory")
    p.add_argument("--json", action="store_true", help="print {policies: {...}} as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_bench)


def run_live(args: argparse.Namespace) -> int:
    from load_tests.experiments.autoscale_live import AutoscaleLiveOptions, run_autoscale_live

    cascade = args.cascade if args.cascade != str(DEFAULT_CASCADE) else str(
        REPO_ROOT / "configs" / "cifar10-coe-autoscale.yaml")
    options = AutoscaleLiveOptions(
        cascade=cascade, http_port=args.http_port, seconds_each=args.seconds_each,
        host_ms_per_request=args.host_ms_per_request, low_rate=args.low_rate,
        high_rate=args.high_rate, calibration_s=args.calibration_s, headroom=args.headroom,
        retry_503=not args.no_retry_503, max_host_load=args.max_host_load,
        calibration_open_fraction=args.calibration_open_fraction)
    report = run_autoscale_live(options, Path(args.out), progress=not args.no_progress)
    live, sim = report["live"], report["sim"]
    brief = {"live": {k: v for k, v in live.items() if k != "timeline"}, "sim": sim,
             "calibration": report["calibration"], "rates": report["rates"],
             "comparison": report["comparison"],
             "kind": report["kind"], "report": str(Path(args.out) / "autoscale_live.json")}
    print(json.dumps(brief) if args.json else json.dumps(brief, indent=1))
    return 0


def run_bench(args: argparse.Namespace) -> int:
    if args.live:
        return run_live(args)
    from load_tests.experiments.autoscale_sim import AutoscaleSimOptions, run_autoscale_sim

    options = AutoscaleSimOptions(
        cascade=args.cascade, trace=args.trace, peak_rate=args.peak_rate, tick_s=args.tick_s,
        slo_ms=args.slo_ms, headroom=args.headroom, host_ms_per_request=args.host_ms,
        cold_start_s=args.cold_start_s, target_ongoing_requests=args.target_ongoing_requests,
        gear_budget_fraction=args.gear_budget_fraction, top_gear=args.top_gear,
        seed=args.seed,
    )
    report = run_autoscale_sim(options, Path(args.out), progress=not args.no_progress)
    keys = ("provisioned_usd_per_1k", "p50_ms", "p99_ms", "slo_violation_rate", "accuracy",
            "lost_requests")
    policies = {name: {k: p[k] for k in keys} for name, p in report["policies"].items()}
    if args.json:
        bounds = {name: {k: b[k] for k in (*keys, "vs_static_peak")}
                  for name, b in report["bounds"].items()}
        print(json.dumps({"policies": policies, "ratios": report["ratios"], "bounds": bounds,
                          "kind": report["kind"], "wall_s": report["wall_s"],
                          "report": str(Path(args.out) / f"autoscale_sim_{args.trace}.json")}))
        return 0
    print(f"{report['kind']}; trace {args.trace}, peak {args.peak_rate:g} req/s")
    print(f"{'policy':24s} {'$/1k (whole GPUs)':>18s} {'p50 ms':>8s} {'p99 ms':>8s} "
          f"{'SLO viol.':>9s} {'vs static':>9s}")
    for name, p in policies.items():
        print(f"{name:24s} {p['provisioned_usd_per_1k']:18.3e} {p['p50_ms']:8.1f} "
              f"{p['p99_ms']:8.1f} {p['slo_violation_rate']:9.4f} "
              f"{report['ratios'][name]['vs_static_peak']:9.2f}")
    for name, b in report["bounds"].items():
        print(f"{name + ' (bound)':24s} {b['provisioned_usd_per_1k']:18.3e} {b['p50_ms']:8.1f} "
              f"{b['p99_ms']:8.1f} {b['slo_violation_rate']:9.4f} {b['vs_static_peak']:9.2f}")
    print(f"report: {Path(args.out)}; PNG: {report['png']}; wall {report['wall_s']:.0f} s")
    return 0


def add_gears_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gears", default=None, metavar="CASCADE_YAML",
        help="instead of searching: plan load gears (Pareto exit thresholds over this "
        "cascade's models, each with the load range it serves within its members' "
        "autoscaling max_replicas) and print them")
    parser.add_argument("--host-ms", type=float, default=1.0,
                        help="--gears: per-request host work in a replica (an assumption)")
    parser.add_argument("--headroom", type=float, default=1.4,
                        help="--gears: replicas sized to be at most 1/headroom busy")
    parser.add_argument("--top-gear", default="plan", choices=["plan", "most_accurate"],
                        help="--gears: 'plan' (default) keeps only gears that escalate no "
                        "more than the cascade's own thresholds, so gears trade accuracy "
                        "only under load; 'most_accurate' keeps every Pareto gear")
    parser.add_argument("--serve-config", default=None,
                        help="--gears: also write a Serve config YAML deploying the cascade "
                        "with the escalation-aware application-level autoscaling policy")


def cmd_gears(args: argparse.Namespace) -> int:
    from cascade.autoscaling import AutoscalingConfig, effective_autoscaling
    from cascade.config import load_cascade
    from planner.gears import escalation_ceiling, plan_gears
    from planner.sim_setup import gear_weights, load_models

    config = load_cascade(args.gears)
    models = load_models(config, args.host_ms / 1000.0, dataset=args.dataset,
                         progress=not args.no_progress)
    weights = gear_weights(models)
    budget = 0.0
    for tier in config.tiers:
        for member in tier.members:
            scaling = effective_autoscaling(tier, member) or AutoscalingConfig(
                min_replicas=member.replicas, max_replicas=member.replicas)
            budget += scaling.max_replicas * weights[config.deployment_name(tier, member)]
    probs, labels = models.calibration
    ceiling = escalation_ceiling(args.top_gear, models.tiers, probs, labels, models.costs)
    gear_set = plan_gears(models.tiers, probs, labels, models.costs, models.load_models,
                          weights, budget, args.headroom, max_escalation=ceiling)
    low = 0.0
    gears = []
    for gear in gear_set.gears:
        gears.append({**gear.model_dump(), "load_range_per_s": [low, gear.max_rate_per_s]})
        low = gear.max_rate_per_s
    out = {"cascade": config.name, "gears": gears, "hysteresis": gear_set.hysteresis,
           "budget_usd_per_s": budget,
           "note": "accuracy and reach on the calibration split; rates from the device model "
           "(EMULATED) with --host-ms per request"}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(gear_set.model_dump(), indent=2) + "\n")
    if args.serve_config:
        write_serve_config(args.serve_config, args.gears, config, models, args.headroom)
        out["serve_config"] = args.serve_config
    if args.json:
        print(json.dumps(out))
    else:
        for gear in gears:
            lo, hi = gear["load_range_per_s"]
            print(f"{gear['name']}: thresholds {gear['thresholds']} accuracy "
                  f"{gear['accuracy']:.4f} reach {gear['expected_reach']} serves "
                  f"{lo:,.0f}..{hi:,.0f} req/s")
    return 0


def write_serve_config(path: str, cascade_path: str, config, models, headroom: float,
                       http_port: int = 8000) -> dict:
    """A Serve config (`serve deploy`) running the cascade with the escalation-aware
    application-level autoscaling policy."""
    import yaml

    from cascade.autoscaling import any_autoscaling
    from planner.sim_setup import app_policy_block

    if not any_autoscaling(config):
        raise ValueError(f"{cascade_path}: no tier or member has `autoscaling`; the "
                         "application-level policy needs autoscaled member deployments")
    raw = {
        "proxy_location": "HeadOnly",
        "http_options": {"host": "127.0.0.1", "port": http_port},
        "applications": [{
            "name": "coe", "route_prefix": "/", "import_path": "serve_app.app:build_app",
            "args": {"config": cascade_path},
            "autoscaling_policy": app_policy_block(config, models, headroom),
        }],
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        handle.write("# Written by `coe plan --gears ... --serve-config`: the cascade with the "
                     "escalation-aware\n# application-level autoscaling policy. Device times "
                     "EMULATED unless profiled on GPUs.\n")
        yaml.safe_dump(raw, handle, sort_keys=False)
    return raw
