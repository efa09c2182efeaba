"""`coe demo`: the whole product loop on one machine, start to finish.

Train the small models if needed, start a local heterogeneous Ray cluster, deploy the
cascade and the single-best baseline side by side, send the same real JPEG test images to
both over HTTP at the same Poisson rate (the rate plans are priced at), and print accuracy,
latency and $ per 1k predictions next to each other. The comparison is on the same footing:
the baseline runs on the class where it is cheapest; when that is not the cascade's class,
the cascade is also run with every tier on the baseline's class (the same-class row).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import BaseModel

from foundation.paths import REPO_ROOT
from planner.costs import DEFAULT_RATE_PER_S

DEFAULT_CASCADE = REPO_ROOT / "configs" / "cifar10-coe.yaml"
DEFAULT_BASELINE = REPO_ROOT / "configs" / "cifar10-single-best.yaml"


class DemoOptions(BaseModel):
    """What the demo deploys and how hard it pushes."""

    cascade: str = str(DEFAULT_CASCADE)
    baseline: str = str(DEFAULT_BASELINE)
    cluster_spec: str | None = None
    images: int = 1000
    rate: float = DEFAULT_RATE_PER_S
    timeout_s: float = 60.0
    max_seconds: float = 240.0
    out: str = "reports/demo"
    keep_cluster: bool = False


def ensure_small_models(config_paths: list[str]) -> list[str]:
    """Train (once, cached) every project-trained model the configs use; return those trained."""
    from cascade.config import load_cascade
    from zoo.small_cnns import SMALL_CNNS
    from zoo.train import read_record, train_and_cache

    needed = []
    for path in config_paths:
        config = load_cascade(path, check_models=False)
        needed += [m.model for t in config.tiers for m in t.members if m.model in SMALL_CNNS]
    trained = []
    for name in dict.fromkeys(needed):
        if read_record(name) is None:
            print(f"training {name} (first run only; cached under COE_CACHE)")
            record = train_and_cache(name)
            print(f"  {name}: test accuracy {record.test_accuracy:.4f} in {record.train_seconds} s")
            trained.append(name)
    return trained


def run_demo(options: DemoOptions) -> dict:
    """Run the demo and return its JSON report (also written under `options.out`)."""
    from cluster import local, quiet
    from load_tests.client.generator import run_load
    from load_tests.client.images import load_request_images
    from load_tests.client.schedules import poisson
    from serve_app.deploy import AppSpec, config_path, deploy_apps
    from zoo.calibrate import ensure_calibration

    started = time.monotonic()
    trained = ensure_small_models([options.cascade, options.baseline])
    calibration = ensure_calibration()  # members read the same cached emulation unit
    print(f"emulation unit: one ResNet-50 image = {calibration.cpu_seconds_per_image:.3f} CPU s "
          "on this machine (GPU classes are EMULATED)")
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    same_class = same_class_variant(options.cascade, options.baseline, out)
    print("starting the local heterogeneous Ray cluster (GPU classes are EMULATED on CPU)")
    state, started_cluster = local.up(options.cluster_spec)
    try:
        local.connect(state.name, **quiet.quiet_init_kwargs())
        import ray.serve  # noqa: F401 - sets its logger to INFO on import; quiet it after

        quiet.quiet_serve_logs()
        apps = [
            AppSpec(name="cascade", config=config_path(options.cascade), route_prefix="/cascade"),
            AppSpec(
                name="single-best", config=config_path(options.baseline),
                route_prefix="/single-best",
            ),
        ]
        if same_class is not None:
            apps.append(AppSpec(name="cascade-same-class", config=config_path(same_class),
                                route_prefix="/cascade-same-class"))
        print("deploying the cascade and the single-best baseline ...")
        urls = deploy_apps(apps, state.serve_http_port)
        images = load_request_images(options.images, split="test")
        results = {}
        for app in apps:
            print(f"sending {len(images)} test images to {app.name} "
                  f"(open loop, Poisson {options.rate:g} req/s)")
            result = run_load(
                f"{urls[app.name]}/v1/classify", images, poisson(options.rate),
                max_requests=len(images), max_seconds=options.max_seconds,
                timeout_s=options.timeout_s,
                retry_503=True,  # as a well-behaved client: a shed is waited out, and counted
            )
            results[app.name] = result.summary.model_dump(mode="json")
    finally:
        if started_cluster and not options.keep_cluster:
            print("tearing down the cluster")
            local.down(state.name)
    report = {
        "demo": "cascade of ensembles vs single best model on CIFAR-10-JPEG (test split)",
        "emulated_gpu_classes": any(r["emulated"] for r in results.values()),
        "rate_per_s": options.rate,
        "trained_now": trained,
        "wall_seconds": round(time.monotonic() - started, 1),
        "apps": results,
        "comparison": comparison(results, options),
        "live_vs_planned_device_ms": live_vs_planned(results["cascade"], options),
    }
    (out / "demo.json").write_text(json.dumps(report, indent=2) + "\n")
    print(format_table(results, report["emulated_gpu_classes"]))
    print(format_comparison(report))
    print(f"\nJSON report: {out / 'demo.json'}   (total {report['wall_seconds']} s)")
    return report


def _classes(config_path_: str) -> list[str]:
    from cascade.config import load_cascade

    return [t.gpu_class for t in load_cascade(config_path_, check_models=False).tiers]


def same_class_variant(cascade: str, baseline: str, out: Path) -> str | None:
    """The cascade with every tier on the baseline's class, or None when it already is."""
    from cascade.config import dump_cascade, load_cascade

    target = _classes(baseline)[0]
    config = load_cascade(cascade, check_models=False)
    if all(t.gpu_class == target for t in config.tiers):
        return None
    variant = config.model_copy(update={
        "name": f"{config.name}-on-{target}",
        "tiers": [t.model_copy(update={"gpu_class": target}) for t in config.tiers],
    })
    path = out / "cascade-same-class.yaml"
    dump_cascade(variant, path)
    return str(path)


def _usd_per_1k(result: dict) -> float | None:
    return result["cost"]["attributed_usd_per_1k"]


def comparison(results: dict[str, dict], options: DemoOptions) -> dict:
    """Headline: single best on its cheapest class / cascade on its planned classes; and
    both on the single best's class. Dollars attributed per prediction, same rate."""
    cascade, best = results["cascade"], results["single-best"]
    same = results.get("cascade-same-class", cascade)

    def ratio(numerator: dict, denominator: dict) -> float | None:
        a, b = _usd_per_1k(numerator), _usd_per_1k(denominator)
        return a / b if a and b else None

    def accuracy_delta(a: dict, b: dict) -> float | None:
        return None if a["accuracy"] is None or b["accuracy"] is None else a["accuracy"] - b[
            "accuracy"]

    return {
        "footing": "single best on its cheapest class (the baseline config) vs the cascade on "
        "its planned classes; the same-class row runs both on the single best's class",
        "cascade_classes": _classes(options.cascade),
        "single_best_class": _classes(options.baseline)[0],
        "cost_ratio_usd": ratio(best, cascade),
        "cost_ratio_usd_same_class": ratio(best, same),
        "same_class_is_headline": "cascade-same-class" not in results,
        "accuracy_delta": accuracy_delta(cascade, best),
    }


def live_vs_planned(live: dict, options: DemoOptions) -> dict:
    """Live device-ms per prediction over the plan's prediction at the demo's rate."""
    from cascade.config import load_cascade
    from planner.expected import expected_cost

    planned = expected_cost(load_cascade(options.cascade), "cifar10-jpeg", "test", options.rate)
    live_ms = live["cost"]["device_ms_per_prediction"]
    return {
        "live_device_ms": live_ms,
        "planned_device_ms": planned.expected_device_ms,
        "ratio": None if not live_ms else live_ms / planned.expected_device_ms,
        "planned_exit_distribution": list(planned.exit_distribution),
        "rate_per_s": options.rate,
    }


def format_comparison(report: dict) -> str:
    comp, check = report["comparison"], report["live_vs_planned_device_ms"]
    lines = [
        f"cost ratio (same footing: single best on its cheapest class "
        f"{comp['single_best_class']}, cascade on {'/'.join(comp['cascade_classes'])}): "
        f"{_fmt(comp['cost_ratio_usd'], '.2f')}x",
        f"cost ratio (both on {comp['single_best_class']}): "
        f"{_fmt(comp['cost_ratio_usd_same_class'], '.2f')}x; accuracy delta cascade - single "
        f"best: {_fmt(comp['accuracy_delta'], '+.4f')}",
        f"live / planned device-ms per prediction at {check['rate_per_s']:g} req/s: "
        f"{_fmt(check['ratio'], '.2f')}",
    ]
    return "\n".join(lines)


def _fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def format_table(results: dict[str, dict], emulated: bool) -> str:
    """One table, one column per app, the rows the README promises."""
    names = list(results)
    dollars = "$/1k predictions" + (" (emulated GPU classes)" if emulated else "")
    rows = [
        ("requests ok / sent", [f"{r['ok']}/{r['sent']}" for r in results.values()]),
        ("503s waited out (Retry-After)",
         [str(r.get("retries_after_503", 0)) for r in results.values()]),
        ("accuracy", [_fmt(r["accuracy"], ".4f") for r in results.values()]),
        ("p50 latency ms", [_fmt(r["latency"]["p50_ms"], ".1f") for r in results.values()]),
        ("p99 latency ms", [_fmt(r["latency"]["p99_ms"], ".1f") for r in results.values()]),
        ("throughput req/s", [_fmt(r["throughput_rps"], ".1f") for r in results.values()]),
        ("exits per tier", [_exits(r["exits_per_tier"]) for r in results.values()]),
        ("device-ms / prediction",
         [_fmt(r["cost"]["device_ms_per_prediction"], ".3f") for r in results.values()]),
        (dollars, [_fmt(r["cost"]["attributed_usd_per_1k"], ".6f") for r in results.values()]),
    ]
    width = max(len(label) for label, _ in rows) + 2
    col = max(18, *(len(v) + 2 for _, values in rows for v in values))
    lines = ["".ljust(width) + "".join(n.rjust(col) for n in names)]
    lines += [label.ljust(width) + "".join(v.rjust(col) for v in values) for label, values in rows]
    lines.append("device-ms are on each tier's own GPU class (a T4 ms is not an A100 ms): "
                 "compare systems in $.")
    return "\n".join(lines)


def _exits(exits: dict[str, int]) -> str:
    return " ".join(f"{tier}:{count}" for tier, count in exits.items())
