"""The committed Grafana dashboard and Prometheus config, checked without servers: every query
reads a metric the service defines, and every item the dashboard promises has a panel.
(tests/e2e/test_prometheus_dashboard.py runs the same queries against a live cluster.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((REPO / "deploy" / "grafana" / "coe-dashboard.json").read_text())
SOURCES = [REPO / "serve_app" / "metrics.py", REPO / "serve_app" / "member.py"]
SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def exprs() -> list[str]:
    return [t["expr"] for p in DASHBOARD["panels"] for t in p["targets"]]


def defined_metrics() -> set[str]:
    names = set()
    for source in SOURCES:
        names |= set(re.findall(r'"(coe_[a-z_]+)"', source.read_text()))
    return names


def test_every_query_reads_a_metric_the_service_exports():
    defined = defined_metrics()
    assert {"coe_requests", "coe_tier_exits", "coe_member_batch_size"} <= defined
    for expr in exprs():
        used = re.findall(r"\bray_(coe_[a-z_]+)", expr)
        assert used, expr
        for name in used:
            base = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), name)
            assert base in defined, f"{name} in {expr!r} is not defined in {SOURCES}"


def test_the_dashboard_covers_what_it_promises():
    titles = " | ".join(p["title"].lower() for p in DASHBOARD["panels"])
    for item in ("requests", "exits per tier", "escalation", "$ per 1k", "latency",
                 "degraded", "5xx", "batch size"):
        assert item in titles, item
    joined = "\n".join(exprs())
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}," in joined
    cost = next(p for p in DASHBOARD["panels"] if p["title"].startswith("$ per 1k"))
    assert "emulated" in cost["targets"][0]["legendFormat"] and "EMULATED" in cost["description"]
    assert len({p["id"] for p in DASHBOARD["panels"]}) == len(DASHBOARD["panels"])


def test_prometheus_config_uses_rays_service_discovery_file():
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    files = job["file_sd_configs"][0]["files"]
    assert files == ["/tmp/ray/prom_metrics_service_discovery.json"]
    assert "static_configs" not in job
