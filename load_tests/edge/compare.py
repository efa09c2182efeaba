"""Edge vs all-cloud on the same images in the same run: bytes, cloud $, accuracy, latency.

The all-cloud side is the same EdgeClient with no local tier (every image uploaded, the
whole cascade on the server); the edge side runs the first tier(s) in each client process.
Both go to one server, one after the other, with the same number of client processes.
Figures come from each prediction's own accounting (serve_app.edge_client.EdgePrediction);
cloud device time and dollars are the server's, EMULATED on a machine without GPUs.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cost_model.device_time import emulation_note
from load_tests.client.images import RequestImage
from load_tests.edge.clients import ClientOptions, run_clients
from serve_app.edge_client import EdgePrediction

AGREEMENT_TARGET = 0.995
RATIO_TARGET = 1 / 3


class EdgeCompareOptions(BaseModel):
    """One edge-vs-all-cloud comparison against a running server."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="server base URL (127.0.0.1 in the benchmarks)")
    clients: int = Field(default=2, ge=1, le=64, description="edge client processes")
    edge_tiers: int = Field(default=1, ge=1)
    edge_class: str | None = None
    catalog: str | None = None
    send_votes: bool = True
    timeout_s: float = Field(default=60.0, gt=0)
    warmup: int = Field(default=10, ge=0, description="uncounted images per client first")


def summarize(predictions: list[EdgePrediction], labels: list[int]) -> dict:
    """Per-1k bytes and dollars, accuracy and latency of one side's answers."""
    n = len(predictions)
    if n == 0 or n != len(labels):
        raise ValueError(f"{n} predictions for {len(labels)} labels")
    latency = np.array([p.latency_ms for p in predictions])
    edge_usd = [p.edge_usd for p in predictions if p.edge_usd is not None]
    exits: dict[str, int] = {}
    for p in predictions:
        exits[p.exit_tier] = exits.get(p.exit_tier, 0) + 1
    per_1k = 1000.0 / n
    return {
        "predictions": n,
        "upload_bytes_per_1k": sum(p.bytes_up for p in predictions) * per_1k,
        "download_bytes_per_1k": sum(p.bytes_down for p in predictions) * per_1k,
        "cloud_usd_per_1k": sum(p.cloud_usd for p in predictions) * per_1k,
        "cloud_device_seconds_per_1k": sum(p.cloud_device_seconds for p in predictions) * per_1k,
        "edge_device_seconds_per_1k": sum(p.edge_device_seconds for p in predictions) * per_1k,
        "edge_usd_per_1k": sum(edge_usd) * per_1k if edge_usd else None,
        "accuracy": float(np.mean([p.label == y for p, y in zip(predictions, labels,
                                                                  strict=True)])),
        "p50_ms": float(np.percentile(latency, 50)),
        "p99_ms": float(np.percentile(latency, 99)),
        "answered_at_edge": sum(p.answered_at == "edge" for p in predictions) / n,
        "requests_sent": sum(p.answered_at == "cloud" for p in predictions),
        "exits_per_tier": exits,
        "degraded": sum(p.degraded for p in predictions),
    }


def agreement(edge: list[EdgePrediction], cloud: list[EdgePrediction]) -> dict:
    """Share of images with the same exit tier and label on both sides (and which differ)."""
    same = [(e.exit_index, e.label) == (c.exit_index, c.label)
            for e, c in zip(edge, cloud, strict=True)]
    differ = [i for i, ok in enumerate(same) if not ok]
    return {"same_exit_and_label": sum(same) / len(same), "differing_images": differ[:50]}


def compare(images: list[RequestImage], options: EdgeCompareOptions,
            progress: bool = True) -> dict:
    """Run all-cloud, then edge, on `images`; the report dict (see `checks`)."""
    paths, labels = [im.path for im in images], [im.label for im in images]
    common = dict(url=options.url, catalog=options.catalog, timeout_s=options.timeout_s,
                  warmup_paths=paths[-options.warmup:] if options.warmup else [])
    cloud = run_clients(paths, ClientOptions(edge_tiers=0, **common), options.clients,
                        progress, desc="all-cloud")
    edge = run_clients(
        paths, ClientOptions(edge_tiers=options.edge_tiers, edge_class=options.edge_class,
                             send_votes=options.send_votes, **common),
        options.clients, progress, desc="edge")
    all_cloud, at_edge = summarize(cloud, labels), summarize(edge, labels)
    agree = agreement(edge, cloud)
    emulated = any(p.cloud_emulated for p in cloud + edge)
    return {
        "all_cloud": all_cloud,
        "edge": at_edge,
        "agreement": agree,
        "ratios": {
            "upload_bytes_edge_over_all_cloud": _ratio(at_edge, all_cloud, "upload_bytes_per_1k"),
            "cloud_usd_edge_over_all_cloud": _ratio(at_edge, all_cloud, "cloud_usd_per_1k"),
        },
        "checks": {
            "upload_bytes_le_one_third": at_edge["upload_bytes_per_1k"]
            <= RATIO_TARGET * all_cloud["upload_bytes_per_1k"],
            "cloud_usd_le_one_third": at_edge["cloud_usd_per_1k"]
            <= RATIO_TARGET * all_cloud["cloud_usd_per_1k"],
            "agreement_ge_99_5pct": agree["same_exit_and_label"] >= AGREEMENT_TARGET,
        },
        "server_traffic": _server_traffic(options.url),
        "setup": {
            "images": len(images), "clients": options.clients, "edge_tiers": options.edge_tiers,
            "edge_class": options.edge_class, "send_votes": options.send_votes,
            "warmup_images_per_client": options.warmup,
            "order": "all-cloud pass, then edge pass; each client process warms up first",
            "url": options.url,
            "edge_device": "edge tiers run on this machine's CPU, 1 torch thread per client "
            "process" + (f"; edge time EMULATED on {options.edge_class}"
                         if options.edge_class else "; edge time unpriced"),
            "cloud_emulated": emulated,
            "note": emulation_note(emulated),
            "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        },
    }


def _ratio(a: dict, b: dict, key: str) -> float | None:
    return a[key] / b[key] if b[key] else None


def _server_traffic(url: str) -> dict | None:
    """The server's own split of the traffic (GET /v1/stats `traffic`), if reachable."""
    try:
        return httpx.get(url.rstrip("/") + "/v1/stats", timeout=10).json().get("traffic")
    except (httpx.HTTPError, ValueError):
        return None


def write_report(report: dict, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "edge.json"
    path.write_text(json.dumps(report, indent=1))
    return path


def render_table(report: dict) -> str:
    """A short text table of both sides, for people (the JSON has everything)."""
    rows = [("upload bytes / 1k", "upload_bytes_per_1k", ".0f"),
            ("download bytes / 1k", "download_bytes_per_1k", ".0f"),
            ("cloud $ / 1k (emulated GPU)", "cloud_usd_per_1k", ".3e"),
            ("accuracy", "accuracy", ".4f"), ("p50 ms", "p50_ms", ".1f"),
            ("p99 ms", "p99_ms", ".1f"), ("answered at the edge", "answered_at_edge", ".3f")]
    lines = [f"{'':32}{'all_cloud':>14}{'edge':>14}"]
    for title, key, spec in rows:
        lines.append(f"{title:32}{report['all_cloud'][key]:>14{spec}}"
                     f"{report['edge'][key]:>14{spec}}")
    agree = report["agreement"]["same_exit_and_label"]
    lines.append(f"same exit tier and label: {agree:.4f}; checks: {report['checks']}")
    return "\n".join(lines)
