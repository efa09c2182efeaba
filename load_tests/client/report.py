"""Turn a load run into files a person reads: report.json, report.md and four PNG plots.

The JSON keeps every record so figures can be recomputed; the Markdown leads with the
numbers (and the emulation warning); the plots use matplotlib's Agg backend (no display).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

from load_tests.client.generator import LoadResult

PLOTS = {
    "latency_cdf": "latency_cdf.png",
    "throughput": "throughput.png",
    "exits_per_tier": "exits_per_tier.png",
    "cost_per_1k": "cost_per_1k.png",
}


def write_report(result: LoadResult, out_dir: str | Path) -> dict[str, Path]:
    """Write report.json, report.md and the plots into `out_dir`; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "markdown": out / "report.md"}
    paths["json"].write_text(json.dumps(result.model_dump(mode="json"), indent=1))
    paths.update(write_plots(result, out))
    paths["markdown"].write_text(render_markdown(result, {k: v.name for k, v in paths.items()}))
    return paths


def _fmt(value: float | None, spec: str = ".2f", unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def render_markdown(result: LoadResult, files: dict[str, str] | None = None) -> str:
    """A short human summary of the run (numbers first, emulation stated up front)."""
    s, c = result.summary, result.summary.cost
    started = dt.datetime.fromtimestamp(result.started_at_unix, dt.timezone.utc).isoformat()
    lines = [f"# Load test: `{s.schedule}` against {s.url}", ""]
    if s.emulated:
        lines += [f"> **{c.notes[0]}**", ""]
    lines += [
        f"Started {started}; limits: {s.max_requests} requests, {s.max_seconds:g} s, "
        f"client timeout {s.timeout_s:g} s; {s.images} distinct CIFAR-10-JPEG test images.",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| sent / answered / errors / timeouts | {s.sent} / {s.answered} / {s.errors} / "
        f"{s.timeouts} |",
        f"| ok (2xx predictions) | {s.ok} |",
        f"| status codes | {', '.join(f'{k}: {v}' for k, v in s.status_counts.items()) or '-'} |",
        f"| bad 2xx bodies / degraded | {s.bad_responses} / {s.degraded} |",
        f"| accuracy over ok | {_fmt(s.accuracy and s.accuracy * 100, '.2f', ' %')} |",
        f"| latency p50 / p95 / p99 | {_fmt(s.latency.p50_ms, '.1f')} / "
        f"{_fmt(s.latency.p95_ms, '.1f')} / {_fmt(s.latency.p99_ms, '.1f')} ms |",
        f"| offered / achieved rate | {_fmt(s.offered_rps, '.1f')} / "
        f"{_fmt(s.throughput_rps, '.1f')} req/s |",
        f"| duration | {s.duration_s:.1f} s |",
        f"| exits per tier | {', '.join(f'{k}: {v}' for k, v in s.exits_per_tier.items()) or '-'}"
        " |",
        f"| device-ms per prediction | {_fmt(c.device_ms_per_prediction, '.3f')} |",
        f"| attributed $ / 1k predictions ({c.pricing}) | {_fmt(c.attributed_usd_per_1k, '.6f')} |",
        f"| server-reported $ / 1k | {_fmt(c.server_reported_usd_per_1k, '.6f')} |",
        f"| provisioned $ / 1k | {_fmt(c.provisioned_usd_per_1k, '.6f')} |",
        f"| utilisation (attributed / provisioned) | {_fmt(c.utilisation, '.3f')} |",
        "",
        "## Attributed $ / 1k by GPU class",
        "",
        "| GPU class | device-s | $ / 1k | $ / GPU-hour | price source (date) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for gpu_class, per_1k in c.attributed_usd_per_1k_by_gpu_class.items():
        price = c.prices[gpu_class]
        lines.append(
            f"| {gpu_class} | {c.device_seconds_by_gpu_class[gpu_class]:.4f} | {per_1k:.6f} | "
            f"{price.usd_per_hour:g} ({price.kind}) | {price.source} ({price.date}) |"
        )
    lines += ["", "## Notes", ""] + [f"- {note}" for note in c.notes]
    if files:
        lines += ["", "## Files", ""] + [f"- `{name}`" for name in files.values()]
    return "\n".join(lines) + "\n"


def write_plots(result: LoadResult, out: Path) -> dict[str, Path]:
    """The four standard plots; each says EMULATED in its title when the costs are emulated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    s = result.summary
    tag = " [EMULATED GPU classes]" if s.emulated else ""
    ok = [r for r in result.records if r.ok]
    paths: dict[str, Path] = {}

    fig, ax = plt.subplots(figsize=(6, 4))
    if ok:
        ms = np.sort([r.latency_s * 1000 for r in ok])
        ax.plot(ms, np.arange(1, len(ms) + 1) / len(ms))
        for q, value in (("p50", s.latency.p50_ms), ("p99", s.latency.p99_ms)):
            ax.axvline(value, linestyle="--", linewidth=0.8, color="grey")
            ax.text(value, 0.02, f" {q}", color="grey")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set(xlabel="latency (ms, log)", ylabel="fraction of ok requests",
           title=f"Latency CDF, {s.schedule}")
    paths["latency_cdf"] = _save(fig, out / PLOTS["latency_cdf"])

    fig, ax = plt.subplots(figsize=(6, 4))
    if result.records:
        edges = np.arange(0.0, max(s.duration_s, 1.0) + 1.0, 1.0)
        sends = [r.t_send for r in result.records]
        done_ok = [r.t_send + r.latency_s for r in ok]
        failed = [r.t_send + r.latency_s for r in result.records if not r.ok]
        ax.hist(sends, bins=edges, histtype="step", label="sent")
        ax.hist(done_ok, bins=edges, histtype="step", label="ok")
        if failed:
            ax.hist(failed, bins=edges, histtype="step", label="failed/timeout")
        ax.legend()
    ax.set(xlabel="time since start (s)", ylabel="requests per second",
           title=f"Throughput, {s.schedule}")
    paths["throughput"] = _save(fig, out / PLOTS["throughput"])

    fig, ax = plt.subplots(figsize=(6, 4))
    names = list(s.exits_per_tier)
    ax.bar(names, [s.exits_per_tier[n] for n in names])
    ax.set(xlabel="exit tier", ylabel="predictions", title="Exits per tier")
    paths["exits_per_tier"] = _save(fig, out / PLOTS["exits_per_tier"])

    fig, ax = plt.subplots(figsize=(6, 4))
    by_class = s.cost.attributed_usd_per_1k_by_gpu_class
    bottom = 0.0
    for gpu_class, value in by_class.items():
        ax.bar(["attributed"], [value], bottom=bottom, label=gpu_class)
        bottom += value
    if s.cost.provisioned_usd_by_gpu_class and s.cost.predictions:
        bottom = 0.0
        for gpu_class, usd in s.cost.provisioned_usd_by_gpu_class.items():
            value = usd / s.cost.predictions * 1000
            ax.bar(["provisioned"], [value], bottom=bottom, label=f"{gpu_class} (provisioned)",
                   hatch="//", alpha=0.6)
            bottom += value
    if by_class:
        ax.legend(fontsize="small")
    ax.set(ylabel="$ per 1k predictions", title=f"Cost per 1k by GPU class{tag}")
    paths["cost_per_1k"] = _save(fig, out / PLOTS["cost_per_1k"])
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
