"""The edge client against a fake server (httpx.MockTransport): refusal, local answers,
escalation with start tier and votes, and the per-prediction accounting."""

import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image

from cascade.config import parse_cascade
from serve_app.edge_client import EdgeClient, EdgeMismatchError, request_bytes
from serve_app.edge_protocol import describe

CONFIG = parse_cascade({
    "name": "edge-unit", "num_classes": 10,
    "tiers": [
        {"name": "t0", "gpu_class": "T4", "members": [
            {"model": "resnet20", "name": "a"}, {"model": "resnet32", "name": "b"}]},
        {"name": "t1", "gpu_class": "L4", "members": [{"model": "resnet56", "name": "c"}]},
    ],
}, check_models=False)
HASHES = {"t0/a": "a" * 64, "t0/b": "b" * 64, "t1/c": "c" * 64}


class FakeMember:
    def __init__(self, weights_sha, vote):
        self.weights_sha, self.vote = weights_sha, vote

    def predict_probs(self, images):
        probs = np.full((len(images), 10), 0.01, dtype=np.float32)
        probs[:, self.vote] = 0.91
        return probs


def loader_for(votes, hashes=HASHES):
    models = {"resnet20": ("t0/a", 0), "resnet32": ("t0/b", 1)}

    def load(spec):
        key, m = models[spec]
        return FakeMember(hashes[key], votes[m])

    return load


class FakeServer:
    """GET /v1/cascade and POST /v1/classify; keeps the classify requests it got."""

    def __init__(self, weights=HASHES):
        self.weights, self.requests = weights, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/cascade":
            return httpx.Response(200, json=describe(CONFIG, self.weights).model_dump(mode="json"))
        self.requests.append(request)
        cost = {"device_seconds_by_gpu_class": {"L4": 0.002}, "usd": 1.5e-6, "emulated": True}
        tiers = [{"tier": "t1", "index": 1, "votes": {"c": 7}, "label": 7, "confidence": 0.9,
                  "agreement": 1.0, "decision": "exit", "policy_met": True}]
        body = {"predictions": [{"label": 7, "class_name": "7", "confidence": 0.9,
                                 "exit_tier": {"name": "t1", "index": 1}, "tiers": tiers,
                                 "latency_ms": 3.0, "cost": cost}]}
        return httpx.Response(200, json=body)


def client(server, votes, **kwargs):
    http = httpx.Client(base_url="http://edge.test", transport=httpx.MockTransport(server))
    return EdgeClient("http://edge.test", http=http, loader=loader_for(votes), **kwargs)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 120, dtype=np.uint8)).save(out, format="JPEG")
    return out.getvalue()


def test_refuses_a_server_whose_weights_differ():
    server = FakeServer(weights={**HASHES, "t0/b": "f" * 64})
    with pytest.raises(EdgeMismatchError, match=r"t0/b \(resnet32\)"):
        client(server, votes=(3, 3))


def test_refuses_a_server_that_does_not_publish_a_member_hash():
    server = FakeServer(weights={"t0/a": "a" * 64})
    with pytest.raises(EdgeMismatchError, match="t0/b"):
        client(server, votes=(3, 3))


def test_refuses_an_inconsistent_policy_fingerprint():
    def lying(request):
        body = describe(CONFIG, HASHES).model_dump(mode="json") | {"policy_fingerprint": "0" * 16}
        return httpx.Response(200, json=body)

    with pytest.raises(EdgeMismatchError, match="policy_fingerprint"):
        client(lying, votes=(3, 3))


def test_agreeing_edge_tier_answers_locally_without_any_upload():
    server = FakeServer()
    answer = client(server, votes=(3, 3)).classify(jpeg())
    assert server.requests == []
    assert (answer.answered_at, answer.label, answer.exit_tier) == ("edge", 3, "t0")
    assert (answer.bytes_up, answer.bytes_down, answer.cloud_usd) == (0, 0, 0.0)
    assert answer.tiers[0].site == "edge" and answer.tiers[0].decision == "exit"
    assert answer.edge_device_seconds == answer.edge_cpu_seconds >= 0
    assert answer.edge_usd is None and answer.latency_ms > 0


def test_undecided_image_goes_up_with_start_tier_and_votes():
    server = FakeServer()
    data = jpeg()
    answer = client(server, votes=(3, 5)).classify(data)
    (request,) = server.requests
    assert request.headers["X-Coe-Start-Tier"] == "1"
    assert json.loads(request.headers["X-Coe-Edge-Votes"]) == [{"t0": {"a": 3, "b": 5}}]
    assert request.content == data and request.headers["Content-Type"] == "image/jpeg"
    assert (answer.answered_at, answer.label, answer.exit_index) == ("cloud", 7, 1)
    assert answer.bytes_up == request_bytes(request) > len(data)
    assert answer.bytes_down > 0
    assert answer.cloud_usd == 1.5e-6 and answer.cloud_device_seconds == 0.002
    assert [t.site for t in answer.tiers] == ["edge", "cloud"]


def test_all_cloud_client_sends_everything_without_edge_headers():
    server = FakeServer()
    answer = client(server, votes=(3, 3), edge_tiers=0).classify(jpeg())
    (request,) = server.requests
    assert "X-Coe-Start-Tier" not in request.headers
    assert "X-Coe-Edge-Votes" not in request.headers
    assert answer.answered_at == "cloud" and answer.edge_device_seconds == 0.0


def test_edge_tiers_must_leave_a_cloud_tier():
    with pytest.raises(ValueError, match="edge_tiers"):
        client(FakeServer(), votes=(3, 3), edge_tiers=2)


def test_refuses_a_server_model_it_cannot_load():
    def unknown(spec):
        raise ValueError(f"unknown model {spec!r}")

    http = httpx.Client(base_url="http://edge.test", transport=httpx.MockTransport(FakeServer()))
    with pytest.raises(EdgeMismatchError, match=r"t0/a \(resnet20\)"):
        EdgeClient("http://edge.test", http=http, loader=unknown)
