"""ONE Ray instance + Serve for the whole integration layer (session-scoped).

Emulated heterogeneous cluster: 4 logical GPUs and the accelerator_type resources of
T4, L4 and A100-40G, so placement is exercised without real GPUs. Serve HTTP listens on
127.0.0.1:18200 (this layer's port range is 18200-18249). Only this session's Ray is
shut down at the end (ray.shutdown of our own driver; never `ray stop`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVE_HTTP_PORT = 18200
EMULATED_RESOURCES = {
    "accelerator_type:T4": 4,
    "accelerator_type:L4": 4,
    "accelerator_type:A100-40G": 4,
}


@pytest.fixture(scope="session")
def ray_serve():
    """Start a private local Ray (random GCS port) and Serve on SERVE_HTTP_PORT."""
    import ray
    from ray import serve

    os.environ.pop("RAY_ADDRESS", None)
    os.chdir(REPO)  # Ray workers get the driver's cwd on sys.path: tests.fixtures imports
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    ray.init(
        num_cpus=8,
        num_gpus=4,
        resources=EMULATED_RESOURCES,
        include_dashboard=False,
        namespace="coe-integration",
        logging_level="warning",
    )
    serve.start(http_options={"host": "127.0.0.1", "port": SERVE_HTTP_PORT})
    yield f"http://127.0.0.1:{SERVE_HTTP_PORT}"
    serve.shutdown()
    ray.shutdown()
