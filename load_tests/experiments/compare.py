"""`coe bench compare`: the cascade and the single-best baseline, same cluster, same load.

Both apps are deployed side by side on one local Ray cluster and driven in ALTERNATING
windows (ABBA order), so drift of this shared 2-core machine hits both alike:

1. fixed-rate windows (open-loop Poisson at `--rate`): accuracy, p50/p99 latency, attributed
   $/1k (server cost records) and provisioned $/1k (Serve replica counts sampled during each
   window, priced by GPU class);
2. a rate search: both apps step up the same ladder of offered rates, one short window each
   per step, until p99 > the SLO or errors > 1%: the maximum sustainable throughput.

Everything GPU-related is EMULATED on this CPU (GPU classes are logical Ray resources, device
time is CPU time / relative throughput) and the report labels each figure with its basis.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cost_model.provisioned import ProvisionedCost
from load_tests.experiments.bench_plan import (
    RateSearch,
    StepOutcome,
    alternating_order,
    rate_ladder,
    ratio,
)

APPS = ("cascade", "single-best")
ROUTES = {"cascade": "/bench-cascade", "single-best": "/bench-single-best"}
DEPLOYED_NAMES = {"cascade": "bench-cascade", "single-best": "bench-single-best"}


class CompareOptions(BaseModel):
    """What is compared, how hard and how long (defaults fit ~6 min on 2 cores)."""

    model_config = ConfigDict(extra="forbid")

    cascade: str
    baseline: str
    cluster_spec: str | None = None
    slo_p99_ms: float = Field(default=300.0, gt=0)
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    rate: float = Field(default=10.0, gt=0, description="offered req/s of the fixed windows")
    window_s: float = Field(default=10.0, gt=0)
    rounds: int = Field(default=4, ge=1)
    ladder_start: float = Field(default=8.0, gt=0)
    ladder_factor: float = Field(default=1.4, gt=1)
    ladder_max: float = Field(default=90.0, gt=0)
    step_window_s: float = Field(default=6.0, gt=0)
    min_step_requests: int = Field(
        default=80, ge=10, description="a step lasts at least this many expected requests, "
        "so its p99 is not just the maximum of a handful"
    )
    warmup_s: float = Field(default=5.0, ge=0)
    cooldown_s: float = Field(default=3.0, ge=0)
    timeout_s: float = Field(default=10.0, gt=0)
    images: int = Field(default=1000, ge=10)
    out: str = "reports/compare"
    keep_cluster: bool = False
    progress: bool = True


def merge_provisioned(parts: list[ProvisionedCost]) -> ProvisionedCost | None:
    """Sum the provisioned cost of several windows of one app (None if there are none)."""
    if not parts:
        return None
    totals: dict[str, dict[str, float]] = {
        "gpu_seconds_by_class": defaultdict(float), "usd_by_class": defaultdict(float),
        "usd_by_deployment": defaultdict(float),
    }
    prices: dict[str, float] = {}
    for part in parts:
        for field, total in totals.items():
            for key, value in getattr(part, field).items():
                total[key] += value
        prices.update(part.prices)
    return ProvisionedCost(
        window_s=sum(p.window_s for p in parts), usd=sum(p.usd for p in parts),
        prices=prices, **{k: dict(v) for k, v in totals.items()},
    )


def rotated(images: list, offset: int) -> list:
    """The image list starting at `offset`: each round sends new images, the same to both."""
    offset %= len(images)
    return images[offset:] + images[:offset]


class _Bench:
    """Holds the live pieces (urls, placements, prices) of one compare run."""

    def __init__(self, options: CompareOptions, urls: dict[str, str], configs: dict[str, Any]):
        from cost_model.prices import PriceTable
        from load_tests.client.images import load_request_images
        from load_tests.client.replica_sampler import placement_from_cascade

        self.options = options
        self.urls = urls
        self.placement = {app: placement_from_cascade(cfg) for app, cfg in configs.items()}
        self.prices = PriceTable()
        self.images = load_request_images(options.images, split="test")

    def window(self, app: str, rate: float, seconds: float, seed: int, image_offset: int):
        from load_tests.client.generator import run_load
        from load_tests.client.replica_sampler import ServeReplicaSampler
        from load_tests.client.schedules import poisson

        sampler = ServeReplicaSampler(self.placement[app], app_name=DEPLOYED_NAMES[app])
        return run_load(
            f"{self.urls[app]}/v1/classify", rotated(self.images, image_offset),
            poisson(rate, seed=seed), max_requests=int(rate * seconds * 3) + 10,
            max_seconds=seconds, timeout_s=self.options.timeout_s,
            progress=self.options.progress, prices=self.prices, sampler=sampler,
        )

    def fixed_windows(self) -> dict[str, dict]:
        """Phase 1: alternating fixed-rate windows; per app, all records merged."""
        from load_tests.client.records import summarise

        o = self.options
        records: dict[str, list] = {app: [] for app in APPS}
        provisioned: dict[str, list[ProvisionedCost]] = {app: [] for app in APPS}
        windows = []
        per_window = int(o.rate * o.window_s)
        for round_index, app in alternating_order(APPS, o.rounds):
            result = self.window(app, o.rate, o.window_s, seed=round_index,
                                 image_offset=round_index * per_window)
            s = result.summary
            windows.append(dict(round=round_index, app=app, sent=s.sent, ok=s.ok,
                                accuracy=s.accuracy, p50_ms=s.latency.p50_ms,
                                p99_ms=s.latency.p99_ms, throughput_rps=s.throughput_rps,
                                provisioned_usd=result.provisioned and result.provisioned.usd))
            records[app] += result.records
            if result.provisioned is not None:
                provisioned[app].append(result.provisioned)
        summaries = {}
        for app in APPS:
            run = dict(url=self.urls[app], schedule=f"poisson:{o.rate:g} x {o.rounds} windows "
                       f"of {o.window_s:g} s", max_requests=len(records[app]),
                       max_seconds=o.window_s * o.rounds, timeout_s=o.timeout_s,
                       images=len(self.images))
            merged = merge_provisioned(provisioned[app])
            summary = summarise(records[app], run=run, prices=self.prices, provisioned=merged)
            summaries[app] = summary.model_dump(mode="json")
        return {"windows": windows, "summaries": summaries}

    def rate_search(self) -> dict:
        """Phase 2: step the offered rate for both apps until each fails the SLO."""
        o = self.options
        search = RateSearch(APPS, rate_ladder(o.ladder_start, o.ladder_factor, o.ladder_max),
                            o.slo_p99_ms, o.max_error_rate)
        steps = []
        for step_index, rate in enumerate(search.rates):
            for app in search.order_at(step_index):
                seconds = max(o.step_window_s, o.min_step_requests / rate)
                result = self.window(app, rate, seconds, seed=100 + step_index,
                                     image_offset=step_index * 97)
                s = result.summary
                outcome = StepOutcome(rate=rate, sent=s.sent, ok=s.ok, p99_ms=s.latency.p99_ms,
                                      achieved_rps=s.throughput_rps)
                passed = search.record(app, outcome)
                steps.append(dict(app=app, **outcome.model_dump(), error_rate=outcome.error_rate,
                                  sustained=passed))
                print(f"  {app:12s} {rate:6.1f} req/s: p99 "
                      f"{'-' if s.latency.p99_ms is None else f'{s.latency.p99_ms:.0f} ms'}, "
                      f"errors {outcome.error_rate:.1%} -> {'ok' if passed else 'FAIL'}")
                if not passed:
                    time.sleep(o.cooldown_s)  # let the overloaded app drain its queue
            if search.done():
                break
        return {"slo_p99_ms": o.slo_p99_ms, "max_error_rate": o.max_error_rate,
                "ladder": search.rates, "step_window_s": o.step_window_s, "steps": steps,
                "max_sustainable_rps": search.result(), "above_ladder": search.censored()}


def ratio_rows(summaries: dict[str, dict], search: dict, offline: dict[str, dict]) -> list[dict]:
    """The compare table: one row per figure, with both values, the ratio and its basis."""
    c, b = summaries["cascade"], summaries["single-best"]
    cpu = "measured on this CPU (GPU classes emulated)"
    emulated = "EMULATED (device time = CPU time / relative throughput; catalog prices)"
    prov = "EMULATED GPU classes; real Serve replica counts x gpu_fraction x price"
    rows = [
        ("accuracy (live requests)", c["accuracy"], b["accuracy"], "measured"),
        ("accuracy (offline, 5,000 test images)", offline["cascade"]["accuracy"],
         offline["single-best"]["accuracy"], "replay of cached predictions"),
        ("p50 latency ms", c["latency"]["p50_ms"], b["latency"]["p50_ms"], cpu),
        ("p99 latency ms", c["latency"]["p99_ms"], b["latency"]["p99_ms"], cpu),
        ("max sustainable req/s", search["max_sustainable_rps"]["cascade"],
         search["max_sustainable_rps"]["single-best"], cpu),
        ("attributed $/1k", c["cost"]["attributed_usd_per_1k"],
         b["cost"]["attributed_usd_per_1k"], emulated),
        ("attributed $/1k (offline: profile at batch 8, 5,000 test images)",
         offline["cascade"]["expected_usd_per_1k"], offline["single-best"]["expected_usd_per_1k"],
         emulated),
        ("provisioned $/1k", c["cost"]["provisioned_usd_per_1k"],
         b["cost"]["provisioned_usd_per_1k"], prov),
        ("utilisation (attributed/provisioned)", c["cost"]["utilisation"],
         b["cost"]["utilisation"], emulated),
    ]
    return [dict(figure=f, cascade=x, single_best=y, ratio=ratio(x, y), basis=basis)
            for f, x, y, basis in rows]


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.6f}" if abs(value) < 0.01 else f"{value:.4g}"
    return str(value)


def render_table(rows: list[dict]) -> str:
    """Markdown table (also readable as plain text on a terminal)."""
    lines = ["| figure | cascade | single best | cascade / single best | basis |",
             "| --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        shown = "n/a" if r["ratio"] is None else f"{r['ratio']:.3f}"
        lines.append(f"| {r['figure']} | {_fmt(r['cascade'])} | {_fmt(r['single_best'])} | "
                     f"{shown} | {r['basis']} |")
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    o, search = report["options"], report["rate_search"]
    lines = [
        "# coe bench compare: cascade vs single best", "",
        f"> **{report['emulation_note']}**", "",
        f"Run {report['started_utc']} on {report['host']}; wall time {report['wall_seconds']} s; "
        f"load average at the end {report.get('load_average_1_5_15_at_end')} (other work on "
        "the machine shifts absolute figures; the alternating windows keep ratios fair).",
        f"Cascade `{o['cascade']}` vs baseline `{o['baseline']}`, deployed side by side on "
        f"cluster `{report['cluster']}`.", "",
        f"Fixed-rate phase: Poisson {o['rate']:g} req/s, {o['rounds']} rounds of "
        f"{o['window_s']:g} s windows per app, alternating (ABBA). Rate search: ladder "
        f"{search['ladder']} req/s, {o['step_window_s']:g} s per app per step, SLO p99 <= "
        f"{o['slo_p99_ms']:g} ms and errors <= {o['max_error_rate']:.0%}.", "",
        render_table(report["table"]), "",
    ]
    above = [a for a, v in search["above_ladder"].items() if v]
    if above:
        lines += [f"Sustained every step of the ladder (true maximum is higher): "
                  f"{', '.join(above)}.", ""]
    below = [a for a, v in search["max_sustainable_rps"].items() if v is None]
    if below:
        lines += [f"Failed the first step ({search['ladder'][0]:g} req/s), so the maximum is "
                  f"below the ladder (n/a in the table): {', '.join(below)}.", ""]
    lines += ["## Rate search steps", "", "| app | offered req/s | sent | ok | p99 ms | "
              "achieved req/s | errors | sustained |", "| --- | ---: | ---: | ---: | ---: | "
              "---: | ---: | --- |"]
    for s in search["steps"]:
        lines.append(f"| {s['app']} | {s['rate']:g} | {s['sent']} | {s['ok']} | "
                     f"{_fmt(s['p99_ms'])} | {_fmt(s['achieved_rps'])} | "
                     f"{s['error_rate']:.1%} | {s['sustained']} |")
    lines += ["", "## Fixed-rate windows", "", "| round | app | sent | ok | p50 ms | p99 ms |",
              "| ---: | --- | ---: | ---: | ---: | ---: |"]
    for w in report["fixed"]["windows"]:
        lines.append(f"| {w['round']} | {w['app']} | {w['sent']} | {w['ok']} | "
                     f"{_fmt(w['p50_ms'])} | {_fmt(w['p99_ms'])} |")
    lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


def _teardown(state, started_cluster: bool, keep: bool) -> None:
    from cluster import local

    try:
        from ray import serve

        if started_cluster and not keep:
            serve.shutdown()
        else:
            for name in DEPLOYED_NAMES.values():
                serve.delete(name)
    except Exception as exc:  # noqa: BLE001 - teardown goes on
        print(f"  (serve cleanup: {exc})")
    if started_cluster and not keep:
        print("tearing down the cluster this run started")
        local.down(state.name)


def run_compare(options: CompareOptions) -> dict:
    """Run the whole comparison; return the report (also written as JSON + Markdown)."""
    import datetime as dt
    import platform

    from cascade.config import load_cascade
    from cluster import local
    from load_tests.experiments.offline import offline_view
    from serve_app.deploy import AppSpec, config_path, deploy_apps

    started = time.monotonic()
    started_utc = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    paths = {"cascade": config_path(options.cascade), "single-best": config_path(options.baseline)}
    configs = {app: load_cascade(p) for app, p in paths.items()}
    print("offline replay of both configs on the 5,000 test images ...")
    offline = {app: offline_view(p, progress=options.progress).model_dump()
               for app, p in paths.items()}
    print("starting (or reusing) the local cluster (GPU classes are EMULATED on CPU)")
    state, started_cluster = local.up(options.cluster_spec, progress=options.progress)
    try:
        local.connect(state.name, log_to_driver=False, logging_level="ERROR")
        apps = [AppSpec(name=DEPLOYED_NAMES[a], config=paths[a], route_prefix=ROUTES[a])
                for a in APPS]
        print("deploying the cascade and the single-best baseline side by side ...")
        deployed = deploy_apps(apps, state.serve_http_port)
        urls = {a: deployed[DEPLOYED_NAMES[a]] for a in APPS}
        bench = _Bench(options, urls, configs)
        if options.warmup_s > 0:  # first batches, connections, caches: discarded
            for app in APPS:
                bench.window(app, options.rate, options.warmup_s, seed=999, image_offset=0)
        print(f"phase 1: alternating fixed-rate windows at {options.rate:g} req/s")
        fixed = bench.fixed_windows()
        print(f"phase 2: rate search (SLO p99 <= {options.slo_p99_ms:g} ms, errors <= "
              f"{options.max_error_rate:.0%})")
        search = bench.rate_search()
    finally:
        _teardown(state, started_cluster, options.keep_cluster)
    from cost_model.summary import EMULATION_NOTE

    report = {
        "benchmark": "coe bench compare",
        "started_utc": started_utc,
        "host": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs)",
        "cluster": state.name,
        "reused_cluster": not started_cluster,
        "load_average_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()],
        "options": options.model_dump(),
        "emulated": True,
        "emulation_note": EMULATION_NOTE,
        "table": ratio_rows(fixed["summaries"], search, offline),
        "fixed": fixed,
        "rate_search": search,
        "offline": offline,
        "notes": [
            "Latency and throughput are real measurements of Ray Serve on this 2-core CPU "
            "machine, where every model runs on the CPU; they say nothing about GPU latency.",
            "Provisioned $/1k counts, per app, only the windows in which that app was loaded "
            "(as if each ran alone at the fixed rate); it scales inversely with the offered "
            "rate, so it is only comparable at the same rate, which both apps share here.",
            "Max sustainable throughput is bounded by the shared CPU (HTTP proxy, ingress, "
            "decode, and every member's forward pass compete for 2 cores), not by the "
            "emulated GPUs.",
        ],
    }
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "compare.md").write_text(render_markdown(report))
    return report
