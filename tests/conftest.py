"""ONE private Ray + Serve per pytest session, shared by the integration and reliability layers.

Emulated heterogeneous cluster: logical GPUs and the accelerator_type resources of T4, L4
and A100-40G, so placement is exercised without real GPUs. Serve HTTP listens on
127.0.0.1:18200 (parallel sessions set COE_TEST_SERVE_PORT). Started lazily by the first
test that needs it (unit tests never do) and
shut down at the end (our own driver only; never `ray stop`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cluster.serve_env import with_serve_env

REPO = Path(__file__).resolve().parents[1]
SERVE_HTTP_PORT = int(os.environ.get("COE_TEST_SERVE_PORT", "18200"))
EMULATED_RESOURCES = {
    "accelerator_type:T4": 16,
    "accelerator_type:L4": 16,
    "accelerator_type:A100-40G": 16,
}


@pytest.fixture(scope="session")
def shared_ray_serve():
    """Start a private local Ray (random GCS port) and Serve; yield Serve's base URL."""
    import ray
    from ray import serve

    from zoo.calibrate import ensure_calibration

    ensure_calibration()  # the emulation unit, once per host, before replicas need it

    os.environ.pop("RAY_ADDRESS", None)
    with_serve_env(os.environ)  # the router settings every coe cluster runs with
    os.chdir(REPO)  # Ray workers get the driver's cwd on sys.path: tests.fixtures imports
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    ray.init(
        num_cpus=16,
        num_gpus=16,
        resources=EMULATED_RESOURCES,
        include_dashboard=False,
        namespace="coe-tests",
        logging_level="warning",
    )
    serve.start(http_options={"host": "127.0.0.1", "port": SERVE_HTTP_PORT})
    yield f"http://127.0.0.1:{SERVE_HTTP_PORT}"
    serve.shutdown()
    ray.shutdown()
