"""A deleted application takes its policy store with it.

The store is a detached actor so that admin changes survive ingress restarts; without an
explicit removal it would also outlive the application (one idle actor per app ever
deployed on a long-lived cluster). Deleting through `coe serve shutdown --name` or the
test helper removes it.
"""

from __future__ import annotations

import ray

from serve_app.policy_store import STORE_NAMESPACE, store_name
from tests.integration.serve_helpers import deployed_app, wait_until
from tests.integration.test_openapi import config

APP = "it-store-cleanup"


def _store_alive() -> bool:
    return any(a["name"] == store_name(APP) and a["namespace"] == STORE_NAMESPACE
               for a in ray.util.list_named_actors(all_namespaces=True))


def test_deleting_the_app_removes_its_policy_store(ray_serve):
    with deployed_app(ray_serve, config(APP), APP, f"/{APP}"):
        assert wait_until(_store_alive, timeout_s=30), "the ingress never created its store"
    assert not _store_alive()
