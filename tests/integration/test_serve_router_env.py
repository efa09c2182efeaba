"""The router backoff cap reaches Ray's worker processes, where Serve's routers read it."""

from __future__ import annotations

from cluster.serve_env import ROUTER_MAX_BACKOFF_S


def test_workers_import_serve_with_the_capped_router_backoff(ray_serve):
    import ray

    @ray.remote(num_cpus=0)
    def router_max_backoff_s() -> float:
        from ray.serve._private import constants

        return constants.RAY_SERVE_ROUTER_RETRY_MAX_BACKOFF_S

    assert ray.get(router_max_backoff_s.remote(), timeout=60) == float(ROUTER_MAX_BACKOFF_S)
