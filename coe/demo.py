"""`coe demo`: the whole product loop on one machine, start to finish.

Train the small models if needed, start a local heterogeneous Ray cluster, deploy the
cascade and the single-best baseline side by side, send the same real JPEG test images to
both over HTTP, and print accuracy, latency and $ per 1k predictions next to each other.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import BaseModel

from foundation.paths import REPO_ROOT

DEFAULT_CASCADE = REPO_ROOT / "configs" / "cifar10-coe.yaml"
DEFAULT_BASELINE = REPO_ROOT / "configs" / "cifar10-single-best.yaml"


class DemoOptions(BaseModel):
    """What the demo deploys and how hard it pushes."""

    cascade: str = str(DEFAULT_CASCADE)
    baseline: str = str(DEFAULT_BASELINE)
    cluster_spec: str | None = None
    images: int = 1000
    concurrency: int = 8
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
    from cluster import local
    from load_tests.client.generator import run_load
    from load_tests.client.images import load_request_images
    from load_tests.client.schedules import closed
    from serve_app.deploy import AppSpec, config_path, deploy_apps

    started = time.monotonic()
    trained = ensure_small_models([options.cascade, options.baseline])
    print("starting the local heterogeneous Ray cluster (GPU classes are EMULATED on CPU)")
    state, started_cluster = local.up(options.cluster_spec)
    try:
        local.connect(state.name, log_to_driver=False)
        apps = [
            AppSpec(name="cascade", config=config_path(options.cascade), route_prefix="/cascade"),
            AppSpec(
                name="single-best", config=config_path(options.baseline),
                route_prefix="/single-best",
            ),
        ]
        print("deploying the cascade and the single-best baseline ...")
        urls = deploy_apps(apps, state.serve_http_port)
        images = load_request_images(options.images, split="test")
        results = {}
        for app in apps:
            print(f"sending {len(images)} test images to {app.name} "
                  f"(closed loop, concurrency {options.concurrency})")
            result = run_load(
                f"{urls[app.name]}/v1/classify", images, closed(options.concurrency),
                max_requests=len(images), max_seconds=options.max_seconds,
                timeout_s=options.timeout_s,
            )
            results[app.name] = result.summary.model_dump(mode="json")
    finally:
        if started_cluster and not options.keep_cluster:
            print("tearing down the cluster")
            _shutdown_serve()
            local.down(state.name)
    report = {
        "demo": "cascade of ensembles vs single best model on CIFAR-10-JPEG (test split)",
        "emulated_gpu_classes": any(r["emulated"] for r in results.values()),
        "trained_now": trained,
        "wall_seconds": round(time.monotonic() - started, 1),
        "apps": results,
    }
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo.json").write_text(json.dumps(report, indent=2) + "\n")
    print(format_table(results, report["emulated_gpu_classes"]))
    print(f"\nJSON report: {out / 'demo.json'}   (total {report['wall_seconds']} s)")
    return report


def _shutdown_serve() -> None:
    """Stop Serve apps before the nodes go away (quieter teardown)."""
    try:
        from ray import serve

        serve.shutdown()
    except Exception as exc:  # noqa: BLE001 - teardown must go on
        print(f"  (serve shutdown: {exc})")


def _fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def format_table(results: dict[str, dict], emulated: bool) -> str:
    """One table, one column per app, the rows the README promises."""
    names = list(results)
    dollars = "$/1k predictions" + (" (emulated GPU classes)" if emulated else "")
    rows = [
        ("requests ok / sent", [f"{r['ok']}/{r['sent']}" for r in results.values()]),
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
    if len(names) == 2:
        lines.append(_ratio_line(results, names, width))
    lines.append("device-ms are on each tier's own GPU class (a T4 ms is not an A100 ms): "
                 "compare systems in $.")
    return "\n".join(lines)


def _exits(exits: dict[str, int]) -> str:
    return " ".join(f"{tier}:{count}" for tier, count in exits.items())


def _ratio_line(results: dict[str, dict], names: list[str], width: int) -> str:
    first, second = (results[n]["cost"]["attributed_usd_per_1k"] for n in names)
    if not first or not second:
        return ""
    return f"{'cost ratio':<{width}}{names[1]} / {names[0]} = {second / first:.2f}x"
