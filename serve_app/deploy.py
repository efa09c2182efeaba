"""Deploy cascade apps onto a Ray cluster the driver is already connected to.

One place for "start Serve, run these apps, wait until they answer", shared by
`coe serve deploy`, `coe demo` and `coe bench compare`.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, Field


class AppSpec(BaseModel):
    """One cascade app to deploy: its config and where it is mounted."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    config: str
    route_prefix: str = "/"
    catalog: str | None = None


def start_serve(http_port: int) -> None:
    """Start Serve with one HTTP proxy on the head node, bound to loopback.

    Head-only: on a one-machine multi-node cluster every node's proxy would share the
    port, so requests would enter on GPU nodes at random.
    """
    from ray import serve

    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": http_port})


def deploy_app(app: AppSpec) -> None:
    """Build the cascade app (validating its config) and deploy it without blocking."""
    from ray import serve

    from cluster.placement import head_pinning_available
    from serve_app.app import BuildArgs, build_app

    args = BuildArgs(
        config=app.config, catalog=app.catalog, pin_ingress_to_head=head_pinning_available()
    )
    serve.run(build_app(args), name=app.name, route_prefix=app.route_prefix, blocking=False)


def wait_until_healthy(url: str, timeout_s: float = 300.0) -> float:
    """Poll `url` (a /healthz endpoint) until it answers 200; return the seconds waited."""
    import httpx

    started = time.monotonic()
    last_error = "no answer"
    while time.monotonic() - started < timeout_s:
        try:
            response = httpx.get(url, timeout=5.0)
            if response.status_code == 200:
                return time.monotonic() - started
            last_error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last_error = str(exc) or type(exc).__name__
        time.sleep(1.0)
    raise TimeoutError(f"{url} not healthy after {timeout_s:.0f} s ({last_error})")


def deploy_apps(apps: list[AppSpec], http_port: int, timeout_s: float = 600.0) -> dict[str, str]:
    """Deploy every app and wait for each to answer; return app name -> base URL."""
    from zoo.calibrate import ensure_calibration

    ensure_calibration()  # measured once per host here, not by every replica at once
    start_serve(http_port)
    for app in apps:
        deploy_app(app)
    urls = {}
    for app in apps:
        base = f"http://127.0.0.1:{http_port}{app.route_prefix.rstrip('/')}"
        wait_until_healthy(f"{base}/healthz", timeout_s)
        urls[app.name] = base
    return urls


def config_path(path: str | Path) -> str:
    """A config path as an absolute string, so Serve replicas find it from any cwd."""
    return str(Path(path).expanduser().resolve())
