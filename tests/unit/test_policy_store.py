"""The live-policy store: versioned, admin changes kept until the config itself changes."""

import asyncio

import pytest

from serve_app.admin import token_digest
from serve_app.app import BuildArgs, admin_digest
from serve_app.policy_store import PolicySync, VersionedPolicies

CONFIG = {"t0": {"kind": "agreement", "threshold": 1.0, "min_members": None}}
LOOSE = {"t0": {"kind": "agreement", "threshold": 0.5, "min_members": None}}


def test_versions_count_up_and_admin_changes_survive_an_unchanged_config():
    store = VersionedPolicies(CONFIG)
    assert store.get()["version"] == 1 and store.get()["source"] == "config"
    after = store.update(LOOSE)
    assert after["version"] == 2 and after["source"] == "admin"
    # an ingress restart re-offers the same config: the admin's change stays live
    assert store.offer_config(CONFIG)["exit_policies"] == LOOSE
    assert store.get()["version"] == 2


def test_a_changed_config_wins_over_admin_changes():
    store = VersionedPolicies(CONFIG)
    store.update(LOOSE)
    new = {"t0": {"kind": "confidence", "threshold": 0.8, "min_members": 2}}
    snap = store.offer_config(new)
    assert snap["exit_policies"] == new and snap["version"] == 3 and snap["source"] == "config"


class FakeActor:
    """A VersionedPolicies behind `.method.remote(...)` awaitables, like a Ray actor."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        method = getattr(self.inner, name)

        class Remote:
            @staticmethod
            def remote(*args):
                async def call():
                    result = method(*args)
                    return await result if asyncio.iscoroutine(result) else result
                return call()

        return Remote


def two_replicas(shared, field: str) -> tuple[dict, dict]:
    """Two PolicySyncs on one (fake) store; each records `field` of what it applies."""
    applied: dict[str, list] = {"a": [], "b": []}
    replicas = {}
    for name in applied:
        sync = PolicySync("app", lambda snap, n=name: applied[n].append(snap[field]))
        sync._store = shared
        replicas[name] = sync
    return replicas, applied


def test_every_replica_applies_a_change_made_through_another():
    replicas, applied = two_replicas(FakeActor(VersionedPolicies(CONFIG)), "version")

    async def scenario():
        await replicas["a"].refresh()
        await replicas["b"].refresh()
        await replicas["a"].update(LOOSE, CONFIG)
        await replicas["b"].refresh()
        await replicas["b"].refresh()  # same version: not applied twice

    asyncio.run(scenario())
    assert applied == {"a": [1, 2], "b": [1, 2]}
    assert replicas["b"].source == "admin"


def test_the_long_poll_answers_at_once_when_behind_at_a_change_or_at_its_timeout():
    store = VersionedPolicies(CONFIG)

    async def scenario():
        assert (await store.wait_for_change(0, 5.0))["version"] == 1  # behind: at once
        assert (await store.wait_for_change(1, 0.05))["version"] == 1  # unchanged: timeout
        waiting = asyncio.ensure_future(store.wait_for_change(1, 5.0))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        store.update(LOOSE)
        return await asyncio.wait_for(waiting, 1.0)  # woken by the change, not the timeout

    snapshot = asyncio.run(scenario())
    assert snapshot["version"] == 2 and snapshot["exit_policies"] == LOOSE


def test_a_replica_waiting_on_the_store_applies_another_replicas_change():
    replicas, applied = two_replicas(FakeActor(VersionedPolicies(CONFIG)), "version")

    async def scenario():
        await replicas["b"].refresh()
        waiting = asyncio.ensure_future(replicas["b"].wait_for_change())
        await asyncio.sleep(0.01)
        await replicas["a"].update(LOOSE, CONFIG)
        await asyncio.wait_for(waiting, 1.0)

    asyncio.run(scenario())
    assert applied["b"] == [1, 2] and replicas["b"].source == "admin"


def test_admin_token_from_env_or_file_and_required_refuses_loudly(tmp_path, monkeypatch):
    monkeypatch.delenv("COE_ADMIN_TOKEN", raising=False)
    assert admin_digest(BuildArgs(config="x")) is None
    monkeypatch.setenv("COE_ADMIN_TOKEN", "from-env")
    assert admin_digest(BuildArgs(config="x")) == token_digest("from-env")
    assert admin_digest(BuildArgs(config="x", admin_api="off")) is None
    monkeypatch.delenv("COE_ADMIN_TOKEN")
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    args = BuildArgs(config="x", admin_token_file=str(token_file), admin_api="required")
    assert admin_digest(args) == token_digest("from-file")
    with pytest.raises(ValueError, match="admin_api is 'required' but no admin token"):
        admin_digest(BuildArgs(config="x", admin_api="required"))
    token_file.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        admin_digest(args)


def test_an_admin_budget_reaches_every_replica_and_a_new_config_clears_it():
    shared = FakeActor(VersionedPolicies(CONFIG))
    replicas, seen = two_replicas(shared, "budget")

    async def scenario():
        await replicas["a"].update({}, CONFIG, budget=2.5)
        await replicas["b"].refresh()

    asyncio.run(scenario())
    assert seen == {"a": [2.5], "b": [2.5]}
    assert shared.inner.update(LOOSE)["budget"] == 2.5  # a policy-only change keeps B
    assert shared.inner.offer_config(LOOSE)["budget"] is None  # a new config: its own B


def test_the_configured_budget_is_live_until_an_admin_changes_it_or_the_config_does():
    store = VersionedPolicies(CONFIG, budget=4.0)
    assert store.get()["budget"] == 4.0 and store.offer_config(CONFIG, 4.0)["version"] == 1
    store.update({}, budget=2.5)
    assert store.offer_config(CONFIG, 4.0)["budget"] == 2.5  # a restart keeps the admin's B
    snap = store.offer_config(CONFIG, 6.0)  # a redeploy with a new B (same policies) wins
    assert snap["budget"] == 6.0 and snap["source"] == "config" and snap["version"] == 3
