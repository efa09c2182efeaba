"""Overhead benchmark: a one-tier, one-member cascade vs a plain Ray Serve deployment.

Both serve the same model with the same @serve.batch settings and placement, over HTTP, in
ONE run on one private local Ray instance; windows alternate (ABC, CBA, ...) so drift hits
all alike. Reported: p50 latency at concurrency 1 (sequential) and 8, and the ratio
cascade / plain (goal <= 1.25). `colocated` is the same cascade with
`ingress.colocate_first_tier: true` (the member runs inside the ingress replica: no second
Serve hop). A reference, `twohop` (a plain ingress calling a plain batched model
deployment), splits the overhead into the extra Serve hop that any two-deployment design
pays and the cascade's own work. Writes reports/overhead_bench.json.

    .venv/bin/python -m load_tests.experiments.overhead_bench [--model resnet20] [--rounds 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from cluster.serve_env import with_serve_env
from load_tests.experiments.bench_plan import alternating_order, ratio

HTTP_PORT = 18451  # this benchmark's port (the bench range is 18450-18459)
APPS = ("cascade", "colocated", "plain", "twohop")
MAX_BATCH_SIZE = 8
BATCH_WAIT_S = 0.005
GPU_CLASS = "T4"
GPU_FRACTION = 0.25


def one_member_config(model: str, colocate: bool = False) -> dict:
    """The smallest cascade: one tier, one member, same batching as the plain deployment."""
    member = dict(model=model, max_batch_size=MAX_BATCH_SIZE,
                  batch_wait_timeout_s=BATCH_WAIT_S, gpu_fraction=GPU_FRACTION)
    return {"name": "overhead-one", "tiers": [
        {"name": "t0", "gpu_class": GPU_CLASS, "members": [member]}],
        "ingress": {"colocate_first_tier": colocate}}


def deploy(model: str) -> dict[str, str]:
    """Start a private Ray + Serve and deploy both apps; return app -> classify URL."""
    import ray
    from ray import serve

    from cluster.placement import (
        DEFAULT_MEMBER_NUM_CPUS,
        ingress_actor_options,
        ray_actor_options_for,
    )
    from load_tests.experiments.plain_app import BatchedModel, PlainModel, TwoHopIngress
    from serve_app.app import build_app
    from serve_app.deploy import wait_until_healthy

    os.environ.pop("RAY_ADDRESS", None)
    with_serve_env(os.environ)
    ray.init(num_cpus=4, num_gpus=2, resources={f"accelerator_type:{GPU_CLASS}": 2},
             include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             namespace="coe-overhead-bench")
    serve.start(http_options={"host": "127.0.0.1", "port": HTTP_PORT})
    serve.run(build_app({"config": one_member_config(model)}), name="overhead-cascade",
              route_prefix="/cascade", blocking=False)
    serve.run(build_app({"config": one_member_config(model, colocate=True)}),
              name="overhead-colocated", route_prefix="/colocated", blocking=False)
    plain = PlainModel.options(
        ray_actor_options=ray_actor_options_for(GPU_CLASS, GPU_FRACTION,
                                                num_cpus=DEFAULT_MEMBER_NUM_CPUS),
        max_ongoing_requests=64,
    )
    serve.run(plain.bind(model, MAX_BATCH_SIZE, BATCH_WAIT_S), name="overhead-plain",
              route_prefix="/plain", blocking=False)
    batched = BatchedModel.options(
        ray_actor_options=ray_actor_options_for(GPU_CLASS, GPU_FRACTION,
                                                num_cpus=DEFAULT_MEMBER_NUM_CPUS),
    ).bind(model, MAX_BATCH_SIZE, BATCH_WAIT_S)
    two_hop = TwoHopIngress.options(ray_actor_options=ingress_actor_options(),
                                    max_ongoing_requests=64)
    serve.run(two_hop.bind(batched), name="overhead-twohop", route_prefix="/twohop", blocking=False)
    base = f"http://127.0.0.1:{HTTP_PORT}"
    for app in APPS:
        wait_until_healthy(f"{base}/{app}/healthz", 300)
    return {app: f"{base}/{app}/v1/classify" for app in APPS}


def measure(urls: dict[str, str], concurrency: int, requests: int, rounds: int, images) -> dict:
    """Alternating closed-loop windows at `concurrency`; latencies of ok requests per app."""
    from load_tests.client.generator import run_load
    from load_tests.client.schedules import closed

    latencies: dict[str, list[float]] = {app: [] for app in APPS}
    per_round: list[dict] = []
    failures = {app: 0 for app in APPS}
    first_error: dict[str, str] = {}
    for round_index, app in alternating_order(APPS, rounds):
        result = run_load(urls[app], images, closed(concurrency), max_requests=requests,
                          max_seconds=120, timeout_s=30, progress=False)
        ok = [r.latency_s * 1000 for r in result.records if r.ok]
        failures[app] += result.summary.sent - len(ok)
        bad = next((r for r in result.records if not r.ok), None)
        if bad is not None:
            first_error.setdefault(app, f"status {bad.status}: {bad.error}")
        latencies[app] += ok
        per_round.append(dict(round=round_index, app=app, requests=len(ok),
                              p50_ms=float(np.median(ok)) if ok else None,
                              throughput_rps=result.summary.throughput_rps))
    p50 = {app: float(np.median(v)) if v else None for app, v in latencies.items()}
    p95 = {app: float(np.percentile(v, 95)) if v else None for app, v in latencies.items()}
    round_ratios = []
    for r in range(rounds):
        pair = {w["app"]: w["p50_ms"] for w in per_round if w["round"] == r}
        round_ratios.append(ratio(pair.get("cascade"), pair.get("plain")))
    return dict(concurrency=concurrency, requests_per_window=requests, rounds=rounds,
                p50_ms=p50, p95_ms=p95, ratio_p50=ratio(p50["cascade"], p50["plain"]),
                ratio_p50_colocated_over_plain=ratio(p50["colocated"], p50["plain"]),
                ratio_p50_twohop_over_plain=ratio(p50["twohop"], p50["plain"]),
                ratio_p50_cascade_over_twohop=ratio(p50["cascade"], p50["twohop"]),
                ratio_p50_by_round=round_ratios, failures=failures, first_error=first_error,
                windows=per_round)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--rounds", type=int, default=4, help="windows per app per mode")
    parser.add_argument("--requests", type=int, default=150, help="requests per window")
    parser.add_argument("--goal", type=float, default=1.25)
    parser.add_argument("--out", default="reports/overhead_bench.json")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.requests < 10:
        raise SystemExit("--rounds must be >= 1 and --requests >= 10")

    import ray
    from ray import serve

    from load_tests.client.images import load_request_images

    started = time.monotonic()
    images = load_request_images(500)
    try:
        urls = deploy(args.model)
        from load_tests.client.generator import run_load
        from load_tests.client.schedules import closed

        for app in APPS:  # warm-up: first batches, JIT-free but caches and connections
            run_load(urls[app], images, closed(4), max_requests=40, max_seconds=60,
                     timeout_s=30, progress=False)
        modes = {}
        for concurrency in (1, 8):
            print(f"measuring concurrency {concurrency} ({args.rounds} alternating rounds)")
            modes[f"concurrency_{concurrency}"] = measure(urls, concurrency, args.requests,
                                                          args.rounds, images)
    finally:
        if ray.is_initialized():
            serve.shutdown()
            ray.shutdown()
    report = dict(
        benchmark="overhead: one-tier one-member cascade vs plain Ray Serve deployment",
        date_utc=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        model=args.model, gpu_class=f"{GPU_CLASS} (EMULATED: logical resource, model on CPU)",
        batching=dict(max_batch_size=MAX_BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_S),
        goal_ratio=args.goal,
        meets_goal={k: (m["ratio_p50"] is not None and m["ratio_p50"] <= args.goal)
                    for k, m in modes.items()},
        meets_goal_colocated={
            k: (m["ratio_p50_colocated_over_plain"] is not None
                and m["ratio_p50_colocated_over_plain"] <= args.goal)
            for k, m in modes.items()},
        modes=modes,
        host=dict(cpus=os.cpu_count(), machine=platform.machine(),
                  python=platform.python_version()),
        wall_seconds=round(time.monotonic() - started, 1),
        load_average_1_5_15_at_end=[round(x, 2) for x in os.getloadavg()],
        note="Latencies are wall-clock over HTTP on this CPU-only machine, client on the "
        "same 2 cores; the cascade path is proxy -> ingress -> member, colocated is proxy -> "
        "ingress with the member inside it, plain is proxy -> one deployment, twohop is "
        "proxy -> plain ingress -> plain batched model.",
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    for key, m in modes.items():
        if m["ratio_p50"] is None or m["ratio_p50_colocated_over_plain"] is None:
            print(f"{key}: no ratio; failures {m['failures']}, first errors {m['first_error']}")
            continue
        print(f"{key}: p50 cascade {m['p50_ms']['cascade']:.2f} ms, colocated "
              f"{m['p50_ms']['colocated']:.2f} ms, plain {m['p50_ms']['plain']:.2f} ms, twohop "
              f"{m['p50_ms']['twohop']:.2f} ms; cascade/plain {m['ratio_p50']:.3f}, "
              f"colocated/plain {m['ratio_p50_colocated_over_plain']:.3f} (goal <= {args.goal}); "
              f"per round {[None if x is None else round(x, 3) for x in m['ratio_p50_by_round']]}")
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
