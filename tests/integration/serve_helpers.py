"""Small helpers for the integration tests (kept out of conftest so tests can import them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


def wait_until(predicate, timeout_s: float = 60.0, interval_s: float = 0.2):
    """Poll `predicate` until truthy (for Serve state that settles asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)


def delete_app(app: str) -> list[str]:
    """Delete a Serve app and its policy store (a detached actor that outlives the app);
    returns the stores removed."""
    from ray import serve

    from serve_app.policy_store import remove_stores

    serve.delete(app)
    return remove_stores([app])


@contextmanager
def deployed_app(
    base_url: str, config: dict | str, app: str, prefix: str, timeout_s: float = 60.0,
    health_path: str = "/healthz",
) -> Iterator[str]:
    """Deploy `config` as Serve app `app` at `prefix`; yield its URL once `health_path`
    answers 200; delete the app afterwards."""
    import httpx
    from ray import serve

    from serve_app.app import build_app

    serve.run(build_app({"config": config}), name=app, route_prefix=prefix)
    url = base_url + prefix

    def healthy() -> bool:
        try:
            return httpx.get(url + health_path, timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_until(healthy, timeout_s=timeout_s), "route never became reachable"
        yield url
    finally:
        delete_app(app)
