"""ONE Ray instance + Serve for the reliability layer, and the two apps it drives.

They run on the session's one Ray + Serve (tests/conftest.py, emulated GPU-class
resources, 127.0.0.1 only). Apps (deployed once for the session, stand-in members only):

- `rel` (/rel): tier `fast` = flaky members a, b (2 replicas each, batch 1; a member fails
  an image when the test paints its fail pixel), tier `slow` = member c (1.5 s per
  forward). Small ingress limits so overload is cheap to provoke. Admin token set.
- `pol` (/pol): two ingress replicas, stand-in members; admin token set (policy store).
- `strict` (/strict): tier0 always escalates (confidence 1.0) to a slow tier; deadline
  behaviour `error`; no admin token.
"""

from __future__ import annotations

import os

import httpx
import pytest

ADMIN_TOKEN = "rel-test-token-7f3a9c"  # test-only secret; never a real credential
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def member(spec: str, name: str, **extra) -> dict:
    return {"model": f"module:tests.fixtures.{spec}", "name": name, "max_batch_size": 1,
            "batch_wait_timeout_s": 0.0, **extra}


REL_CONFIG = {
    "name": "rel",
    "num_classes": 10,
    "class_names": CLASSES,
    "tiers": [
        {"name": "fast", "gpu_class": "T4",
         "members": [member("faulty:flaky0", "a", replicas=2),
                     member("faulty:flaky1", "b", replicas=2)]},
        {"name": "slow", "gpu_class": "L4",
         "members": [member("faulty:slow2", "c", max_batch_size=8,
                            batch_wait_timeout_s=0.01)]},
    ],
    "ingress": {"max_images_per_request": 4, "max_body_bytes": 200_000,
                "max_pixels": 512 * 512, "max_ongoing_requests": 4, "max_queued_requests": 4,
                "member_timeout_s": 15.0, "retry_after_s": 2.0, "max_inflight_images": 8,
                "door_follows_replicas": True},
}
STRICT_CONFIG = {
    "name": "strict",
    "num_classes": 10,
    "tiers": [
        {"name": "tier0", "gpu_class": "T4",
         "exit_policy": {"kind": "confidence", "threshold": 1.0},
         "members": [member("standin:member0", "x")]},
        {"name": "tier1", "gpu_class": "L4",
         "members": [member("faulty:slow2", "y", max_ongoing_requests=1)]},
    ],
    "ingress": {"on_deadline": "error", "member_timeout_s": 15.0},
}


def healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def serve_base(shared_ray_serve):
    """The session's shared Ray + Serve (tests/conftest.py); yields Serve's base URL."""
    return shared_ray_serve


def _deploy(name: str, config: dict, prefix: str, base: str, token: str | None) -> str:
    from ray import serve

    from serve_app.app import build_app
    from tests.integration.serve_helpers import wait_until

    previous = os.environ.pop("COE_ADMIN_TOKEN", None)
    if token:
        os.environ["COE_ADMIN_TOKEN"] = token  # read (and hashed) by build_app only
    try:
        app = build_app({"config": config})
    finally:
        os.environ.pop("COE_ADMIN_TOKEN", None)
        if previous is not None:
            os.environ["COE_ADMIN_TOKEN"] = previous
    serve.run(app, name=name, route_prefix=prefix)
    url = base + prefix
    assert wait_until(lambda: healthy(url), timeout_s=60), f"{name} never became reachable"
    return url


@pytest.fixture(scope="session")
def rel_url(serve_base):
    return _deploy("rel", REL_CONFIG, "/rel", serve_base, ADMIN_TOKEN)


POLICY_CONFIG = {  # two ingress replicas sharing one policy store
    "name": "pol",
    "num_classes": 10,
    "tiers": [
        {"name": "t0", "gpu_class": "T4",
         "members": [member("standin:member0", "p"), member("standin:member1", "q")]},
        {"name": "t1", "gpu_class": "L4", "members": [member("standin:member2", "r")]},
    ],
    "ingress": {"replicas": 2, "member_timeout_s": 15.0},
    "budget": {"target": 5.0},  # keeper off: B is only carried (and changed by the admin)
}


@pytest.fixture(scope="session")
def pol_url(serve_base):
    return _deploy("pol", POLICY_CONFIG, "/pol", serve_base, ADMIN_TOKEN)


@pytest.fixture(scope="session")
def strict_url(serve_base):
    return _deploy("strict", STRICT_CONFIG, "/strict", serve_base, None)
