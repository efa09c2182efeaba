"""ONE local `coe cluster` (head + T4, L4, A100 pools, emulated) per pytest session for the
e2e tests that serve over HTTP. Each test module deploys its own app on it under its own
route prefix, so the cluster starts once, however many modules use it.

Ray pushes metrics every second here, and the dashboard's own metrics server gets a port of
this test cluster (Ray's default may belong to another cluster on the machine), so the
Prometheus test can scrape the same cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.serve_cluster import REPO, SERVE_CLUSTER, SERVE_CLUSTER_SPEC, run_coe


@pytest.fixture(scope="session")
def serve_cluster():
    """Start the session's serving cluster; yield the environment that addresses it."""
    env = dict(os.environ, COE_CLUSTER=SERVE_CLUSTER, RAY_metrics_report_interval_ms="1000",
               DASHBOARD_METRIC_PORT="8614")
    for key in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(key, None)
    try:
        run_coe(env, "cluster", "up", str(SERVE_CLUSTER_SPEC))
        yield env
    finally:
        subprocess.run(
            [sys.executable, "-m", "coe", "cluster", "down", SERVE_CLUSTER, "--grace", "10"],
            cwd=REPO, env=env, capture_output=True, timeout=180,
        )
