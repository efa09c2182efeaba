"""Ray Serve settings that only take effect through the environment of Ray's processes.

Serve's router (in the HTTP proxy, and in every handle that calls a member) retries a queued
request whose replicas are all full with backoff: 25 ms doubling to 0.5 s (Ray 2.60,
`RAY_SERVE_ROUTER_RETRY_*`). It is not woken when a slot frees, so under overload a queued
request can sleep up to half a second past a free slot, and the ingress runs below its
limit while the proxy's queue is full: admitted latency grows beyond the queue it waited in.
Capping the backoff at 50 ms bounds that extra wait; the price is a few more routing
attempts per second for at most `max_queued_requests` waiters. Side by side with `coe chaos`
(docs/BENCHMARKS.md section 4) the overload bound held in 6 of 6 runs with the cap and 4 of
5 without: kept for the mechanism, not for a demonstrated gain.

Serve's replicas and routers also flush their cached request metrics to Ray's metrics API
every 100 ms (`RAY_SERVE_METRICS_EXPORT_INTERVAL_MS`), busy or idle, in every process. A
Prometheus scrape reads them every 5-15 s at most, so coe-serve flushes once a second: with
the 6 idle applications of `coe bench collage` deployed the host's idle draw
fell from 0.55 to 0.45 cores; under load at 10 req/s on one app, CPU per request moved by
about 1-2% (inside the run-to-run noise).

Serve reads these variables once, at import in each process, so they must be in the
environment of the Ray nodes (`ray start`, a KubeRay pod) or of the driver that starts a
private `ray.init()`; a value the user already set wins.
"""

from __future__ import annotations

from collections.abc import MutableMapping

ROUTER_MAX_BACKOFF_ENV = "RAY_SERVE_ROUTER_RETRY_MAX_BACKOFF_S"
ROUTER_MAX_BACKOFF_S = "0.05"
METRICS_EXPORT_ENV = "RAY_SERVE_METRICS_EXPORT_INTERVAL_MS"
METRICS_EXPORT_MS = "1000"


def serve_env_defaults() -> dict[str, str]:
    """The variables and values coe-serve's clusters start with."""
    return {ROUTER_MAX_BACKOFF_ENV: ROUTER_MAX_BACKOFF_S, METRICS_EXPORT_ENV: METRICS_EXPORT_MS}


def with_serve_env(env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add the defaults to `env` (os.environ before a private ray.init(), or a node's
    environment) where the variable is not set already; returns `env`."""
    for name, value in serve_env_defaults().items():
        env.setdefault(name, value)
    return env
