"""coe-serve's Serve settings (cluster/serve_env.py) reach Ray's worker processes, where
Serve's routers and replicas read them at import."""

from __future__ import annotations

from cluster.serve_env import METRICS_EXPORT_MS, ROUTER_MAX_BACKOFF_S


def test_workers_import_serve_with_coe_serves_settings(ray_serve):
    import ray

    @ray.remote(num_cpus=0)
    def serve_settings() -> tuple[float, int]:
        from ray.serve._private import constants

        return (constants.RAY_SERVE_ROUTER_RETRY_MAX_BACKOFF_S,
                constants.RAY_SERVE_METRICS_EXPORT_INTERVAL_MS)

    backoff_s, metrics_ms = ray.get(serve_settings.remote(), timeout=60)
    assert backoff_s == float(ROUTER_MAX_BACKOFF_S)
    assert metrics_ms == int(METRICS_EXPORT_MS)
