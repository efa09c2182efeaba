"""`coe bench budget-stream --live`: the learned plan on a private Ray Serve, real CIFAR models.

Two checks the offline bench cannot make:
1. agreement: served with static thresholds, the first `check_images` test images get the
   exit tier and label `planner.simulate` predicts from the cached predictions;
2. shifted stream: the offline bench's stream (budget_stream.shifted_stream, same seed) sent
   over HTTP in requests of `batch`, first to the app with static thresholds, then to the
   app with the budget keeper on (one at a time: the machine has 2 cores).
An image's live cost is its answer's cost in the budget's unit (what the ingress's keeper
sees). Device time is EMULATED from CPU time on this CPU-only host, so the live cost scale
differs from the planned one: the static run's realised/B before the shift shows by how much.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

APPS = {"static": "/static", "keeper": "/keeper"}


class LiveOptions(BaseModel):
    cascade: str = Field(description="a learned cascade YAML with a `budget` section")
    dataset: str = "cifar10-jpeg"
    split: str = "test"
    images: int = Field(default=4000, ge=200, description="stream length per app")
    batch: int = Field(default=8, ge=1, description="images per stream request")
    check_images: int = Field(default=1000, ge=0, description="agreement check (0: skip)")
    check_batch: int = Field(default=50, ge=1, le=64)
    hard_share_after: float = Field(default=0.5, gt=0, lt=1)
    window: int = Field(default=400, ge=10, description="images per reported window")
    warmup_requests: int = Field(default=10, ge=0, description="per app, same images for both")
    poll_every: int = Field(default=25, ge=1, description="requests between GET /v1/stats")
    rate: float = Field(default=20.0, gt=0, description="req/s of the offline reference prices")
    target: float | None = Field(default=None, gt=0,
                                 description="live B for both apps (default: the config's)")
    port: int = Field(default=18460, ge=1024)
    seed: int = 0
    timeout_s: float = Field(default=120.0, gt=0, description="per request")
    out: str = "reports/budget_live"


def agreement(served_exit, served_label, sim_exit, sim_label) -> dict:
    """Share of images whose served exit tier AND label equal the simulated ones."""
    served_exit, served_label = np.asarray(served_exit), np.asarray(served_label)
    same_exit = served_exit == np.asarray(sim_exit)
    same_label = served_label == np.asarray(sim_label)
    both = same_exit & same_label
    return {"images": int(both.size), "agreement": float(both.mean()) if both.size else None,
            "same_exit_tier": float(same_exit.mean()) if both.size else None,
            "same_label": float(same_label.mean()) if both.size else None,
            "mismatches": int((~both).sum())}


def read_predictions(body: dict, unit: str) -> tuple[list[int], list[int], list[float]]:
    """(exit tier index, label, cost in `unit`) per image of a /v1/classify answer; the cost
    is computed by the keeper's own function (serve_app.budget_keeper.outcome_cost)."""
    from serve_app.budget_keeper import outcome_cost
    from serve_app.schemas import ClassifyResponse

    preds = ClassifyResponse.model_validate(body).predictions
    return ([p.exit_tier.index for p in preds], [p.label for p in preds],
            [outcome_cost(p, unit) for p in preds])


def send(client, rows, bodies, unit: str, batch: int, poll_every: int = 0, desc: str = "",
         progress: bool = True) -> dict:
    """POST the images `rows` in requests of `batch`; per-image exits, labels, costs, and the
    keeper's offset every `poll_every` requests (GET /v1/stats)."""
    from tqdm import tqdm

    exits, labels, costs, polls = [], [], [], []
    starts = range(0, len(rows), batch)
    for k, start in enumerate(tqdm(starts, desc=desc, unit="req", disable=not progress)):
        chunk = rows[start:start + batch]
        response = client.post("/v1/classify", json={"images": [bodies[i] for i in chunk]})
        if response.status_code != 200:
            raise RuntimeError(f"{desc}: HTTP {response.status_code}: {response.text[:300]}")
        e, y, c = read_predictions(response.json(), unit)
        exits += e
        labels += y
        costs += c
        if poll_every and (k + 1) % poll_every == 0:
            budget = client.get("/v1/stats").json().get("budget") or {}
            polls.append((start + len(chunk), budget.get("offset_logits")))
    return {"exits": np.asarray(exits, dtype=np.int64), "labels": np.asarray(labels),
            "costs": np.asarray(costs, dtype=float), "polls": polls}


def write_configs(config, out: Path, per_request: int, target: float) -> dict[str, str]:
    """The config twice, as YAML, with B = `target`: keeper off (static) and keeper on;
    name -> absolute path."""
    from cascade.config import dump_cascade

    ingress = config.ingress.model_copy(update={
        "max_images_per_request": max(config.ingress.max_images_per_request, per_request)})
    paths = {}
    for name in APPS:
        keeper = config.budget.keeper.model_copy(update={"enabled": name == "keeper"})
        variant = config.model_copy(update={
            "name": f"{config.name}-{name}", "ingress": ingress,
            "budget": config.budget.model_copy(update={"keeper": keeper, "target": target})})
        path = out / f"{name}.yaml"
        dump_cascade(variant, path)
        paths[name] = str(path.resolve())
    return paths


def stop_ray(timeout_s: float = 120.0) -> None:
    """serve.shutdown, then ray.shutdown, each waited for at most `timeout_s`."""
    import ray
    from ray import serve

    for step in (serve.shutdown, ray.shutdown):
        worker = threading.Thread(target=step, daemon=True)
        worker.start()
        worker.join(timeout_s)


def _bodies(paths, rows) -> dict[int, str]:
    """Base64 of the stored JPEG bytes (sent as they are) of every image in `rows`."""
    import base64

    from foundation.paths import assets_root
    from load_tests.client.images import JPEG_TEST_DIR

    root = assets_root() / JPEG_TEST_DIR
    return {int(i): base64.b64encode((root / paths[i]).read_bytes()).decode("ascii")
            for i in set(np.asarray(rows).tolist())}


def run_live(options: LiveOptions, progress: bool = True) -> dict:
    """Start a private Ray + Serve, deploy both apps, run both checks, stop; the report."""
    import httpx

    from cascade.config import load_cascade
    from cost_model.device_time import emulation_note
    from load_tests.chaos.run import EMULATED_RESOURCES
    from load_tests.experiments.budget_stream import hard_images, shifted_stream
    from load_tests.experiments.collage_bench import start_ray
    from planner.costs import uniform_cost_table
    from planner.predictions import pool_probs
    from planner.simulate import simulate, tiers_from_config
    from serve_app.deploy import AppSpec, deploy_apps
    from zoo.datasets import load_split

    wall = time.monotonic()
    config = load_cascade(options.cascade)
    if config.budget is None:
        raise ValueError("--cascade: needs a learned cascade with a budget section "
                         "(coe plan --policy learned --objective budget)")
    unit, target = config.budget.unit, options.target or config.budget.target
    tiers = tiers_from_config(config)
    models = list(dict.fromkeys(m for t in tiers for m in t.members))
    probs, labels = pool_probs(models, options.dataset, options.split, progress)
    paths = load_split(options.dataset, options.split).paths
    free = uniform_cost_table({m: 0.0 for m in models}, list({t.gpu_class for t in tiers}))
    predicted = simulate(tiers, probs, labels, free)  # per image: static thresholds
    hard = hard_images(tiers, probs, labels)
    order, shift_at = shifted_stream(hard, options.images, options.hard_share_after,
                                     np.random.default_rng(options.seed))
    check = np.arange(min(options.check_images, labels.size))
    warm = np.arange(labels.size)[-options.warmup_requests * options.batch:] \
        if options.warmup_requests else np.arange(0)
    bodies = _bodies(paths, np.concatenate([order, check, warm]))
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    configs = write_configs(config, out, options.check_batch, target)
    offline = _offline(config, tiers, probs, labels, (order, shift_at), options, progress)
    os.environ.pop("RAY_ADDRESS", None)
    if progress:
        print(f"[budget live] private Ray + Serve on 127.0.0.1:{options.port}", flush=True)
    start_ray(progress, resources=EMULATED_RESOURCES, namespace="coe-budget-live",
              label="budget live")
    runs, checked, stats = {}, None, {}
    try:
        t0 = time.monotonic()
        urls = deploy_apps([AppSpec(name=f"budget-{n}", config=configs[n], route_prefix=p)
                            for n, p in APPS.items()], options.port, timeout_s=900)
        deploy_s = time.monotonic() - t0
        for name in APPS:
            with httpx.Client(base_url=urls[f"budget-{name}"],
                              timeout=options.timeout_s) as client:
                send(client, warm, bodies, unit, options.batch, desc=f"warm-up {name}",
                     progress=progress)
        with httpx.Client(base_url=urls["budget-static"], timeout=options.timeout_s) as client:
            if check.size:
                served = send(client, check, bodies, unit, options.check_batch,
                              desc="agreement check", progress=progress)
                checked = agreement(served["exits"], served["labels"],
                                    predicted.exit_tier[check], predicted.predictions[check])
        for name in APPS:
            with httpx.Client(base_url=urls[f"budget-{name}"],
                              timeout=options.timeout_s) as client:
                t1 = time.monotonic()
                live = send(client, order, bodies, unit, options.batch, options.poll_every,
                            desc=f"stream {name}", progress=progress)
                stats[name] = client.get("/v1/stats").json().get("budget")
            runs[name] = _run_report(live, order, labels, shift_at, target, options)
            runs[name]["seconds"] = round(time.monotonic() - t1, 1)
            runs[name]["stats_budget_at_end"] = stats[name]
            if name == "static":
                runs[name]["agreement_with_simulate"] = agreement(
                    live["exits"], live["labels"], predicted.exit_tier[order],
                    predicted.predictions[order])
    finally:
        stop_ray()
    report = {
        "live": f"LIVE: private Ray Serve on 127.0.0.1:{options.port}, real CIFAR models, "
                "CPU only; device time EMULATED from CPU time (not measured on GPUs)",
        "emulation_note": emulation_note(True),
        "cascade": options.cascade, "target": target, "unit": unit,
        "target_source": "--target (live scale)" if options.target else "the config's B",
        "config_target": config.budget.target,
        "hard_definition": "misclassified by the cascade's first tier (cached predictions)",
        "hard_share_before": float(hard[order[:shift_at]].mean()),
        "hard_share_after": float(hard[order[shift_at:]].mean()),
        "images": int(order.size), "shift_at_image": int(shift_at), "batch": options.batch,
        "warmup_images_per_app": int(warm.size),
        "keeper_settings": config.budget.keeper.model_dump() | {"enabled": True},
        "check_agreement": checked,
        "runs": runs,
        "within_10pct_after_shift": {
            n: abs(r["after_shift"]["realized_over_target"] - 1.0) <= 0.10
            for n, r in runs.items()},
        "offline_same_stream": offline,
        "deploy_seconds": round(deploy_s, 1),
        "options": options.model_dump(),
    }
    report["wall_seconds"] = round(time.monotonic() - wall, 1)
    plot_live(report, out / "budget_live.png")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _run_report(live: dict, order, labels, shift_at: int, target: float, options) -> dict:
    """summarise_run over one live stream, plus per-window realised / B and offset polls."""
    from load_tests.experiments.budget_stream import summarise_run

    offsets = np.asarray([o or 0.0 for _, o in live["polls"]] or [0.0])
    correct = live["labels"] == labels[order]
    run = summarise_run(live["costs"], correct, offsets, shift_at, target, options.window,
                        live["exits"])
    run["windows_realized_over_target"] = [w / target for w in run["windows_realized"]]
    run.pop("offset_per_request")
    run["offset_polls"] = live["polls"]  # (images sent, keeper offset in logits)
    return run


def _offline(config, tiers, probs, labels, stream, options, progress) -> dict | None:
    """The offline bench's prediction for the same stream (planned, EMULATED device-ms,
    against the config's B)."""
    from load_tests.experiments.budget_stream import offline_runs
    from planner.expected import config_cost_table
    from planner.simulate import simulate

    if config.budget.unit != "device_ms":
        return None
    costs = config_cost_table(config, options.rate, progress)
    tier_cost = np.asarray(simulate(tiers, probs, labels, costs).tier_device_ms)
    settings = config.budget.keeper.model_copy(update={"enabled": True})
    runs = offline_runs(config, tiers, probs, labels, stream, tier_cost, settings,
                        options.batch, options.window)
    keys = ("before_shift", "after_shift", "after_shift_settled")
    return {name: {k: run[k] for k in keys} for name, run in runs.items()}


def plot_live(report: dict, path: Path) -> None:
    """The offline bench's plot, labelled LIVE (device time EMULATED from CPU time)."""
    from load_tests.experiments.budget_stream import plot_stream

    plot_stream(report, path,
                title="Shifted stream, LIVE on Ray Serve, CPU only: static vs budget keeper",
                ylabel=f"{report['unit']} per image, window mean\n(EMULATED from CPU time)")
