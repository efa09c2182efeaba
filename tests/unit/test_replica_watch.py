"""The image door follows the first tier's running replicas (serve_app.replica_watch)."""

import asyncio

import pytest

from serve_app.admission import ImageBudget, Overloaded
from serve_app.replica_watch import ReplicaWatch, running_share, watched_deployments


def test_the_share_is_the_most_depleted_members_and_never_zero():
    configured = {"tier0-a": 2, "tier0-b": 4}
    full = {"tier0-a": {"RUNNING": 2}, "tier0-b": {"RUNNING": 4}}
    assert running_share(full, configured) == 1.0
    one_down = {"tier0-a": {"RUNNING": 1, "STARTING": 1}, "tier0-b": {"RUNNING": 4}}
    assert running_share(one_down, configured) == 0.5
    assert running_share({**full, "tier0-b": {"RUNNING": 3}}, configured) == 0.75
    # none running (or missing from the status) counts as one: the door stays open a crack
    assert running_share({"tier0-a": {"STARTING": 2}}, configured) == 0.25
    # a rolling update can run more than configured: never above 1
    assert running_share({"tier0-a": {"RUNNING": 3}, "tier0-b": {"RUNNING": 5}},
                         configured) == 1.0


def door_limit(base: int, share: float) -> int:
    budget = ImageBudget(base)
    budget.scale_to(share)
    return budget.limit


def test_the_door_shrinks_with_the_share_and_keeps_one_image():
    assert door_limit(6, 1.0) == 6
    assert door_limit(6, 0.5) == 3
    assert door_limit(7, 0.5) == 4  # rounded up: half a replica still serves
    assert door_limit(1, 0.25) == 1
    assert door_limit(16, 2.0) == 16
    budget = ImageBudget(6)
    budget.scale_to(0.5)
    budget.scale_to(1.0)
    assert budget.limit == 6 and budget.shrinks == 1  # counted once, reopened


def watch_for(states, budget, configured=None):
    def follow(share):
        budget.limit = door_limit(6, share)

    return ReplicaWatch("app", configured or {"tier0-a": 2}, follow,
                        states=lambda app: states[0])


def test_a_replica_down_closes_its_share_of_the_door_until_it_is_back():
    budget = ImageBudget(6)
    states = [{"tier0-a": {"RUNNING": 2}}]
    watch = watch_for(states, budget)

    async def scenario():
        assert await watch.check_once() == 1.0 and budget.limit == 6
        states[0] = {"tier0-a": {"RUNNING": 1, "STARTING": 1}}
        assert await watch.check_once() == 0.5
        assert budget.limit == 3
        budget.acquire(3)
        with pytest.raises(Overloaded):
            budget.acquire(1)  # the fourth image waits for the replacement
        states[0] = {"tier0-a": {"RUNNING": 2}}
        await watch.check_once()
        budget.acquire(1)
        return budget.in_flight

    assert asyncio.run(scenario()) == 4
    assert watch.polls == 3


def test_the_watch_polls_in_the_background_and_survives_an_unreachable_status():
    budget = ImageBudget(6)
    calls = []

    def states(app):
        calls.append(app)
        if len(calls) == 1:
            raise ConnectionError("controller busy")
        if len(calls) < 5:
            return {"tier0-a": {"RUNNING": 1, "STARTING": 1}}
        return {"tier0-a": {"RUNNING": 2}}

    watch = ReplicaWatch("app", {"tier0-a": 2},
                         lambda share: setattr(budget, "limit", door_limit(6, share)),
                         interval_s=0.01, states=states)

    async def scenario():
        watch.ensure_started()
        watch.ensure_started()  # one poller
        limits = []
        for _ in range(300):
            await asyncio.sleep(0.01)
            limits.append(budget.limit)
            if budget.limit == 6 and 3 in limits:
                break
        watch._task.cancel()
        return limits

    limits = asyncio.run(scenario())
    assert 3 in limits and limits[-1] == 6  # shrank while one was down, then reopened
    assert watch.errors == 1 and watch.share == 1.0


def test_nothing_is_watched_without_first_tier_deployments_to_follow():
    from cascade.config import parse_cascade

    def config(**ingress):
        return parse_cascade({
            "name": "t", "num_classes": 10,
            "tiers": [
                {"name": "tier0", "gpu_class": "T4",
                 "exit_policy": {"kind": "agreement", "threshold": 1.0},
                 "members": [{"model": "cnn_a", "replicas": 2},
                             {"model": "resnet20", "replicas": 1,
                              "autoscaling": {"min_replicas": 1, "max_replicas": 3}}]},
                {"name": "tier1", "gpu_class": "L4",
                 "exit_policy": {"kind": "agreement", "threshold": 0.0},
                 "members": [{"model": "resnet32", "replicas": 3}]}],
            "ingress": ingress}, check_models=False)

    # the autoscaled member and the upper tier are not watched
    assert watched_deployments(config()) == {"tier0-cnn_a": 2}
    assert watched_deployments(config(colocate_first_tier=True)) == {}
    watch = ReplicaWatch("app", {}, lambda share: None)

    async def start():
        watch.ensure_started()
        return watch._task

    assert asyncio.run(start()) is None
