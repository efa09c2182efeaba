"""One source of truth for a cascade's live exit policies: a detached, named Ray actor.

Every ingress replica of an application reads the same store, so an admin change made
through any replica reaches all of them (each keeps a long poll open on the store, which
answers it as soon as the version changes), and it
survives an ingress restart (the store is detached: it outlives the replicas). Versions
count up on every change. The deployment's own policies (Serve `user_config`) win
whenever THEY change (a redeploy with new thresholds); an unchanged redeploy or a
replica restart keeps the admin's changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import ray

logger = logging.getLogger("ray.serve")
STORE_NAMESPACE = "serve"
STORE_PREFIX = "coe-policy-store-"


def store_name(app_name: str) -> str:
    return f"{STORE_PREFIX}{app_name or 'default'}"


class VersionedPolicies:
    """The versioned exit policies of one application (tier name -> ExitPolicyConfig dict),
    and the budget keeper's live target B (None: the cascade has no budget).

    Plain Python (unit-tested); `PolicyStore` is this class as a Ray actor.
    """

    def __init__(self, exit_policies: dict, budget: float | None = None) -> None:
        self._config = (dict(exit_policies), budget)
        self._live = dict(exit_policies)
        self._budget = budget
        self._version = 1
        self._source = "config"
        self._updated_at = time.time()
        self._changed: asyncio.Event | None = None  # set (and dropped) on every change

    def get(self) -> dict:
        return {"version": self._version, "source": self._source,
                "updated_at": self._updated_at, "exit_policies": dict(self._live),
                "budget": self._budget}

    def offer_config(self, exit_policies: dict, budget: float | None = None) -> dict:
        """The deployment's configured policies and B: adopted only if they differ from the
        last ones offered (a redeploy with new thresholds or B), else the live ones stay."""
        if (exit_policies, budget) != self._config:
            self._config = (dict(exit_policies), budget)
            self._budget = budget
            self._set(dict(exit_policies), "config")
        return self.get()

    async def wait_for_change(self, known_version: int, timeout_s: float = 30.0) -> dict:
        """The snapshot as soon as its version differs from `known_version`, or after
        `timeout_s` unchanged: a long poll, so that idle replicas do not poll the store
        (a 0.5-s poll by every ingress cost the host CPU for nothing)."""
        if self._version == known_version:
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout_s)
        return self.get()

    def update(self, exit_policies: dict, budget: float | None = None) -> dict:
        """An admin change of some tiers' policies and/or of B (validated by the ingress)."""
        if budget is not None:
            self._budget = float(budget)
        self._set({**self._live, **exit_policies}, "admin")
        return self.get()

    def _set(self, policies: dict, source: str) -> None:
        self._live = policies
        self._version += 1
        self._source = source
        self._updated_at = time.time()
        if self._changed is not None:
            self._changed.set()
            self._changed = None


PolicyStore = ray.remote(num_cpus=0)(VersionedPolicies)


def connect(app_name: str, exit_policies: dict, budget: float | None = None):
    """The application's store, created (detached) with `exit_policies` and B if it is new."""
    return PolicyStore.options(
        name=store_name(app_name), namespace=STORE_NAMESPACE, lifetime="detached",
        get_if_exists=True,
    ).remote(exit_policies, budget)


def remove_stores(app_names: list[str] | None = None) -> list[str]:
    """Kill the stores of these applications (every coe store if None) and return their
    names. A store is detached so that it outlives its replicas, and so it also outlives
    a deleted application: whoever deletes an application removes its store too."""
    wanted = None if app_names is None else {store_name(name) for name in app_names}
    removed = []
    for actor in ray.util.list_named_actors(all_namespaces=True):
        name = actor["name"]
        if actor["namespace"] != STORE_NAMESPACE or not name.startswith(STORE_PREFIX):
            continue
        if wanted is not None and name not in wanted:
            continue
        try:
            ray.kill(ray.get_actor(name, namespace=STORE_NAMESPACE))
            removed.append(name)
        except ValueError:  # gone meanwhile
            continue
    return removed


class PolicySync:
    """An ingress replica's link to the store: push changes, pull the live version."""

    def __init__(self, app_name: str, apply: Callable[[dict], None],
                 refresh_s: float = 0.5, wait_s: float = 30.0) -> None:
        self.app_name = app_name
        self.apply = apply  # called with a store snapshot whose version is new here
        self.refresh_s = refresh_s  # the pause before retrying an unreachable store
        self.wait_s = wait_s  # how long one long poll stays open
        self.version = 0
        self.source = "config"
        self._store = None
        self._poller: asyncio.Task | None = None
        self._offer: asyncio.Task | None = None

    def _handle(self, exit_policies: dict, budget: float | None = None):
        if self._store is None:
            self._store = connect(self.app_name, exit_policies, budget)
        return self._store

    def _take(self, snapshot: dict) -> dict:
        if snapshot["version"] != self.version:
            self.apply(snapshot)
            self.version = snapshot["version"]
            self.source = snapshot["source"]
        return snapshot

    async def offer_config(self, exit_policies: dict, budget: float | None = None) -> dict:
        store = self._handle(exit_policies, budget)
        snapshot = await store.offer_config.remote(exit_policies, budget)
        self._start_polling()
        return self._take(snapshot)

    def offer_config_soon(self, exit_policies: dict, budget: float | None = None) -> None:
        """`offer_config` in the background (retried until the store answers), then
        keep polling; the caller goes on at once with the configured policies."""
        async def offer() -> None:
            while True:
                try:
                    await self.offer_config(exit_policies, budget)
                    return
                except Exception as exc:  # noqa: BLE001 - retried; the config stays live
                    logger.warning("policy store not reachable yet (%s); retrying",
                                   type(exc).__name__)
                    await asyncio.sleep(self.refresh_s)

        self._offer = asyncio.get_running_loop().create_task(offer())

    async def update(self, exit_policies: dict, full: dict, budget: float | None = None) -> dict:
        return self._take(await self._handle(full).update.remote(exit_policies, budget))

    async def refresh(self) -> dict | None:
        if self._store is None:
            return None
        return self._take(await self._store.get.remote())

    def _start_polling(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def wait_for_change(self) -> dict:
        """One long poll: the store's snapshot once its version differs from ours."""
        return self._take(await self._store.wait_for_change.remote(self.version, self.wait_s))

    async def _poll(self) -> None:
        while True:
            try:
                await self.wait_for_change()
            except Exception as exc:  # noqa: BLE001 - keep the last live policy meanwhile
                logger.warning("policy store unreachable (%s); keeping version %d",
                               type(exc).__name__, self.version)
                await asyncio.sleep(self.refresh_s)
