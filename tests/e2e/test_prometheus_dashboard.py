"""A real Prometheus scrapes a live local cluster through Ray's service-discovery file, and
EVERY query of the committed Grafana dashboard returns data.

The session's serving cluster (tests/e2e/conftest.py, emulated) serves a stand-in cascade under a
little load with exits at both tiers, escalations, degraded answers (a member fails) and
504s (a deadline shorter than any tier). Prometheus is the Debian package: installed here
with apt-get when missing and running as root, otherwise the test is skipped saying why.
Bounded: about a minute on an idle 2-core machine.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.serve_cluster import SERVE_BASE, SERVE_CLUSTER_SPEC
from tests.e2e.serve_cluster import run_coe as coe
from tests.fixtures.faulty import FAIL_RED, fail_column
from tests.fixtures.standin import paint

REPO = Path(__file__).resolve().parents[2]
CASCADE = REPO / "tests" / "e2e" / "metrics_cascade.yaml"
DASHBOARD = REPO / "deploy" / "grafana" / "coe-dashboard.json"
PROM_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
APP = "metrics"
BASE = f"{SERVE_BASE}/m"
RATE_WINDOW = "30s"
QUERY_TIMEOUT_S = 90


def prometheus_binary() -> str:
    """The `prometheus` executable; apt-get installs the Debian package if it is missing."""
    found = shutil.which("prometheus")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Prometheus is not installed and cannot be installed here (needs root and "
                    "apt-get): install the Debian package `prometheus`")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    result = subprocess.run(["apt-get", "install", "-y", "-q", "prometheus"], env=env,
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=300)
        result = subprocess.run(["apt-get", "install", "-y", "-q", "prometheus"], env=env,
                                capture_output=True, text=True, timeout=600)
    found = shutil.which("prometheus")
    if not found:
        pytest.skip(f"apt-get could not install prometheus: {result.stderr.strip()[-300:]}")
    return found


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of the dashboard, variables substituted."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []

    def walk(panels):
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                expr = (target["expr"].replace("$__rate_interval", RATE_WINDOW)
                        .replace("$application", APP))
                assert "$" not in expr, f"unsubstituted variable in {panel['title']}: {expr}"
                queries.append((panel["title"], expr))

    walk(dashboard["panels"])
    return queries


def png(votes: list[int], fail_member: int | None = None) -> bytes:
    from PIL import Image

    image = paint(votes)
    if fail_member is not None:
        image[0, fail_column(fail_member), 0] = FAIL_RED
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(serve_cluster):
    """The metrics app on the session's serving cluster (tests/e2e/conftest.py)."""
    prometheus_binary()  # skip before deploying anything when Prometheus cannot be had
    coe(serve_cluster, "serve", "deploy", str(CASCADE), "--name", APP, "--route-prefix", "/m",
        "--no-model-check")
    return serve_cluster


@pytest.fixture(scope="module")
def prometheus(cluster, tmp_path_factory):
    from cluster.spec import load_cluster_spec

    temp_dir = Path(load_cluster_spec(SERVE_CLUSTER_SPEC).resolved_temp_dir())
    discovery = temp_dir / "prom_metrics_service_discovery.json"
    deadline = time.monotonic() + 60
    while not discovery.exists() and time.monotonic() < deadline:
        time.sleep(1)
    assert discovery.exists(), f"Ray wrote no service-discovery file at {discovery}"
    config = yaml.safe_load(PROM_CONFIG.read_text())  # the committed config, re-pointed
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    job = config["scrape_configs"][0]
    job["file_sd_configs"][0]["files"] = [str(discovery)]
    job["file_sd_configs"][0]["refresh_interval"] = "1s"
    work = tmp_path_factory.mktemp("prometheus")
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(work / "prometheus.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [prometheus_binary(), f"--config.file={work / 'prometheus.yml'}",
         f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


class Load(threading.Thread):
    """A little steady load: exits at tier 0 and 1, degraded answers and 504s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.statuses: dict[int, int] = {}
        self.bodies = [
            (png([3, 3, 5]), {}),                  # members agree: exit at tier0
            (png([3, 4, 5]), {}),                  # disagree: escalate, exit at tier1
            (png([3, 3, 5], fail_member=0), {}),   # member a fails: degraded
            (png([1, 1, 1]), {"X-Coe-Deadline-Ms": "0.01"}),  # nothing in time: 504
        ]

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while not self.stop.is_set():
                body, headers = self.bodies[i % len(self.bodies)]
                i += 1
                try:
                    response = client.post(f"{BASE}/v1/classify", content=body,
                                           headers={"content-type": "image/png", **headers})
                    self.statuses[response.status_code] = (
                        self.statuses.get(response.status_code, 0) + 1)
                except httpx.HTTPError:
                    self.statuses[-1] = self.statuses.get(-1, 0) + 1
                time.sleep(0.1)


def query(url: str, expr: str) -> list[dict]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10)
    response.raise_for_status()
    payload = response.json()
    assert payload["status"] == "success", payload
    return payload["data"]["result"]


def has_data(result: list[dict]) -> bool:
    return any(re.fullmatch(r"-?[0-9.e+-]+", s["value"][1]) for s in result)


@pytest.mark.timeout(600)
def test_every_dashboard_query_returns_data(cluster, prometheus):
    queries = dashboard_queries()
    assert len(queries) >= 10
    load = Load()
    load.start()
    try:
        deadline = time.monotonic() + QUERY_TIMEOUT_S
        missing = queries
        while missing and time.monotonic() < deadline:
            time.sleep(3)
            missing = [(t, e) for t, e in missing if not has_data(query(prometheus, e))]
    finally:
        load.stop.set()
        load.join(timeout=30)
    targets = query(prometheus, 'up{job="ray"} == 1')  # found through Ray's discovery file
    assert len(targets) >= 2, f"expected both nodes' metrics agents as targets: {targets}"
    assert load.statuses.get(200, 0) > 0 and load.statuses.get(504, 0) > 0, load.statuses
    assert not missing, "dashboard queries without data:\n" + "\n".join(
        f"  {title}: {expr}" for title, expr in missing)
    # the data is the load's, not just present: exits at both tiers, 5xx and degraded > 0
    # (over a window: Ray stops exporting a series that did not change, and Prometheus
    # then marks it stale for instant queries)
    tiers = {s["metric"]["tier"] for s in query(
        prometheus,
        f'sum by (tier) (max_over_time(ray_coe_tier_exits_total{{application="{APP}"}}[5m]))')}
    assert tiers == {"tier0", "tier1"}
    for counter in ('ray_coe_requests_total{status="5xx"}', "ray_coe_degraded_predictions_total"):
        samples = query(prometheus, f"sum(max_over_time({counter}[5m]))")
        assert samples and float(samples[0]["value"][1]) > 0, counter
