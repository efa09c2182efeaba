"""The heterogeneous-cluster scenario: single best on A100 only vs the cascade on its
T4 / L4 (/ A100) tiers, in provisioned dollars, with replicas sized for the same load.

How the replica counts are chosen (see load_tests/experiments/sizing.py for the formulas):
- per-member device time per image: measured on this CPU (1 torch thread, batch 8, the
  planner's profile) and EMULATED on the member's GPU class as CPU time / relative
  throughput (cost_model/gpu_catalog.yaml);
- the fraction of requests reaching each tier: the cascade's exit distribution, from the
  offline replay of the config on the 5,000 test images (same policy functions as the
  router), or from a live `coe bench compare` run (--compare-report);
- each member gets the fewest replicas (at least 1) that keep it <= target utilisation at
  offered load x reach, a replica with gpu_fraction f serving f of the GPU's time.
Provisioned $/1k = sum(replicas x gpu_fraction x $/GPU-hour) / requests per hour x 1000.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cost_model.device_time import EMULATION_NOTE
from load_tests.experiments.bench_plan import ratio
from load_tests.experiments.sizing import SystemSizing, reach_fractions, size_system


class HeteroOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cascade: str
    baseline: str
    loads: list[float] = Field(min_length=1)
    target_utilisation: float = Field(default=0.7, gt=0, le=1)
    compare_report: str | None = None
    out: str = "reports/hetero"


def measured_exit_distribution(compare_json: str, tier_names: list[str]) -> list[float]:
    """Exit fractions of the cascade in a live compare run, in tier order."""
    report = json.loads(Path(compare_json).read_text())
    exits = report["fixed"]["summaries"]["cascade"]["exits_per_tier"]
    unknown = set(exits) - set(tier_names)
    if unknown:
        raise ValueError(f"{compare_json}: exit tiers {sorted(unknown)} are not in the cascade "
                         f"config (tiers {tier_names})")
    total = sum(exits.values())
    if total == 0:
        raise ValueError(f"{compare_json}: no cascade predictions recorded")
    return [exits.get(name, 0) / total for name in tier_names]


def member_inputs(config, reach: list[float], device_ms: dict[str, float], catalog) -> list[dict]:
    """The sizing inputs of every member of a config (see size_system)."""
    return [
        dict(tier=tier.name, model=m.model, gpu_class=tier.gpu_class,
             gpu_fraction=m.gpu_fraction, device_ms_per_image=device_ms[f"{tier.name}/{m.model}"],
             reach=reach[i], usd_per_gpu_hour=catalog.get(tier.gpu_class).price_per_hour_usd)
        for i, tier in enumerate(config.tiers) for m in tier.members
    ]


def run_hetero(options: HeteroOptions) -> dict:
    from cascade.config import load_cascade
    from cost_model.catalog import load_catalog
    from load_tests.experiments.offline import offline_view

    catalog = load_catalog()
    views, systems = {}, {}
    for name, path in (("cascade", options.cascade), ("single-best", options.baseline)):
        config = load_cascade(path)
        view = offline_view(path)
        reach, source = view.reach, f"offline replay on {view.images} test images"
        if name == "cascade" and options.compare_report:
            dist = measured_exit_distribution(options.compare_report,
                                              [t.name for t in config.tiers])
            reach, source = reach_fractions(dist), f"live run {options.compare_report}"
        views[name] = dict(view.model_dump(), reach_used=reach, reach_source=source,
                           gpu_classes=[t.gpu_class for t in config.tiers])
        systems[name] = member_inputs(config, reach, view.device_ms_per_image, catalog)
    rows = []
    for load in options.loads:
        sized: dict[str, SystemSizing] = {
            name: size_system(name, load, members, options.target_utilisation)
            for name, members in systems.items()
        }
        c, b = sized["cascade"], sized["single-best"]
        rows.append(dict(
            offered_rps=load, cascade=c.model_dump(), single_best=b.model_dump(),
            provisioned_ratio=ratio(c.provisioned_usd_per_1k, b.provisioned_usd_per_1k),
            attributed_ratio=ratio(c.attributed_usd_per_1k, b.attributed_usd_per_1k),
        ))
    report = dict(
        benchmark="coe bench hetero",
        date_utc=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        emulated=True,
        emulation_note=EMULATION_NOTE + " Replica counts are computed (sized), not deployed.",
        sizing_rule="replicas = max(1, ceil(offered_rps x reach / (gpu_fraction / device_s "
        f"per image) / {options.target_utilisation:g})); provisioned $/h = sum replicas x "
        "gpu_fraction x $/GPU-hour",
        options=options.model_dump(), systems=views, rows=rows,
    )
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "hetero.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "hetero.md").write_text(render_markdown(report))
    return report


def _replicas(system: dict) -> str:
    return ", ".join(f"{m['tier']}/{m['model']}@{m['gpu_class']} x{m['replicas']}"
                     for m in system["members"])


def render_markdown(report: dict) -> str:
    s = report["systems"]
    lines = [
        "# coe bench hetero: single best on A100 vs the cascade on its tiers", "",
        f"> **{report['emulation_note']}**", "", f"Date {report['date_utc']}.", "",
        f"- cascade `{report['options']['cascade']}` on {' / '.join(s['cascade']['gpu_classes'])}"
        f"; accuracy {s['cascade']['accuracy']:.4f}; reach per tier "
        f"{[round(r, 4) for r in s['cascade']['reach_used']]} ({s['cascade']['reach_source']})",
        f"- single best `{report['options']['baseline']}` on "
        f"{' / '.join(s['single-best']['gpu_classes'])}; accuracy "
        f"{s['single-best']['accuracy']:.4f}",
        f"- sizing: {report['sizing_rule']}", "",
        "| offered req/s | cascade replicas | cascade $/h | single-best replicas | "
        "single-best $/h | cascade prov. $/1k | single-best prov. $/1k | ratio (prov.) | "
        "ratio (attributed) |",
        "| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["rows"]:
        c, b = r["cascade"], r["single_best"]
        lines.append(
            f"| {r['offered_rps']:g} | {_replicas(c)} | {c['usd_per_hour']:.3f} | "
            f"{_replicas(b)} | {b['usd_per_hour']:.3f} | {c['provisioned_usd_per_1k']:.6f} | "
            f"{b['provisioned_usd_per_1k']:.6f} | {r['provisioned_ratio']:.3f} | "
            f"{r['attributed_ratio']:.3f} |")
    lines += ["", "Device ms per image (emulated on each tier's class): " + ", ".join(
        f"{k} {v:.3f}" for name in ("cascade", "single-best")
        for k, v in s[name]["device_ms_per_image"].items())]
    return "\n".join(lines) + "\n"
