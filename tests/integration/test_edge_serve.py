"""The server side of the edge tier on live Serve (stand-in members): GET /v1/cascade with
hashes, start-tier bounds and bad votes over HTTP (422 JSON), billing of a start-tier
request, the traffic split in /v1/stats, and an EdgeClient refusing a hash mismatch."""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest

from serve_app.edge_client import EdgeClient, EdgeMismatchError
from serve_app.schemas import ClassifyResponse
from tests.integration.serve_helpers import deployed_app
from tests.integration.test_cascade_serve import CLASSES, PNG, png, standin

APP = "it-edge"
PREFIX = "/it-edge"
CONFIG = {
    "name": "it-edge",
    "num_classes": 10,
    "class_names": CLASSES,
    "tiers": [
        {"name": "small", "gpu_class": "T4", "members": [standin(0, "a"), standin(1, "b")]},
        {"name": "mid", "gpu_class": "L4", "members": [standin(2, "c")]},
    ],
}
EDGE = {"X-Coe-Start-Tier": "1", **PNG}


@pytest.fixture(scope="module")
def edge_url(ray_serve):


    with deployed_app(ray_serve, CONFIG, APP, PREFIX) as url:
        yield url


def post(url, votes, headers):
    return httpx.post(url + "/v1/classify", content=png(votes), headers=headers, timeout=60)


def test_cascade_publishes_policy_fingerprint_and_every_member_hash(edge_url):
    body = httpx.get(edge_url + "/v1/cascade", timeout=30).json()
    assert len(body["policy_fingerprint"]) == 16
    assert set(body["weights_sha256"]) == {"small/a", "small/b", "mid/c"}
    assert all(len(sha) == 64 for sha in body["weights_sha256"].values())


@pytest.mark.parametrize("value", ["0", "2", "-1", "one", "1.0", ""])
def test_start_tier_out_of_bounds_is_422_json(edge_url, value):
    response = post(edge_url, [1, 2, 4], {**PNG, "X-Coe-Start-Tier": value})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_start_tier" and "X-Coe-Start-Tier" in error["message"]


@pytest.mark.parametrize("votes", [
    [{"small": {"a": 1}}],  # a member missing
    [{"small": {"a": 1, "b": 2}}, {"small": {"a": 1, "b": 2}}],  # two entries, one image
    [{"small": {"a": 1, "b": "unicorn"}}],  # unknown label
    [{"small": {"a": 1, "b": 11}}],  # label out of range
    [{"small": {"a": 3, "b": 3}}],  # these votes would have exited at the edge
    {"small": {"a": 1, "b": 2}},  # not a list
])
def test_bad_edge_votes_are_422_json(edge_url, votes):
    response = post(edge_url, [1, 2, 4], {**EDGE, "X-Coe-Edge-Votes": json.dumps(votes)})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "bad_edge_votes"


def test_start_tier_request_is_billed_only_for_later_tiers(edge_url):
    votes = json.dumps([{"small": {"a": 1, "b": "bird"}}])
    before = httpx.get(edge_url + "/v1/stats", timeout=30).json()["traffic"]
    edge = post(edge_url, [1, 2, 4], {**EDGE, "X-Coe-Edge-Votes": votes})
    full = post(edge_url, [1, 2, 4], PNG)
    assert edge.status_code == full.status_code == 200, edge.text
    (e,) = ClassifyResponse.model_validate(edge.json()).predictions
    (f,) = ClassifyResponse.model_validate(full.json()).predictions
    assert (e.label, e.exit_tier.name) == (f.label, f.exit_tier.name) == (4, "mid")
    assert [(t.tier, t.site) for t in e.tiers] == [("small", "edge"), ("mid", "cloud")]
    assert e.tiers[0].votes == {"a": 1, "b": 2}
    assert set(e.cost.device_seconds_by_tier) == {"mid"}
    assert set(f.cost.device_seconds_by_tier) == {"small", "mid"}
    assert 0 < e.cost.usd < f.cost.usd
    after = httpx.get(edge_url + "/v1/stats", timeout=30).json()["traffic"]
    assert after["edge_escalated"]["images"] == before["edge_escalated"]["images"] + 1
    assert after["full_cascade"]["images"] == before["full_cascade"]["images"] + 1
    assert after["edge_escalated"]["exits_by_tier"].get("small", 0) == 0


def test_edge_client_runs_against_matching_weights_and_refuses_others(edge_url):
    from zoo.registry import load_member

    client = EdgeClient(edge_url, edge_tiers=1)
    local = client.classify(png([6, 6, 0]))
    remote = client.classify(png([6, 1, 8]))
    assert (local.answered_at, local.label, local.bytes_up) == ("edge", 6, 0)
    assert (remote.answered_at, remote.label, remote.exit_tier) == ("cloud", 8, "mid")
    assert remote.bytes_up > 0 and remote.cloud_usd > 0 and remote.cloud_emulated

    def tampered(spec):
        return dataclasses.replace(load_member(spec), weights_sha="0" * 64)

    with pytest.raises(EdgeMismatchError, match="small/a"):
        EdgeClient(edge_url, edge_tiers=1, loader=tampered)
