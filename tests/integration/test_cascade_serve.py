"""A 3-tier cascade of stand-in members on Ray Serve, driven over HTTP.

Stand-in member j votes the red value of pixel (0, j), so each test paints the votes it
wants (PNG keeps pixels exact). Deployed once for the module.
"""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
from PIL import Image

from serve_app.schemas import ClassifyResponse, StatsResponse
from tests.fixtures.standin import paint
from tests.integration.serve_helpers import delete_app, wait_until

APP = "it-cascade"
PREFIX = "/it"
PNG = {"content-type": "image/png"}
JSON = {"content-type": "application/json"}
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def standin(column: int, name: str, **extra) -> dict:
    return {
        "model": f"module:tests.fixtures.standin:member{column}",
        "name": name,
        "max_batch_size": 8,
        "batch_wait_timeout_s": 0.002,
        **extra,
    }


CONFIG = {
    "name": "it-cascade",
    "num_classes": 10,
    "class_names": CLASSES,
    "tiers": [
        {
            "name": "small",
            "gpu_class": "T4",
            "members": [standin(0, "a"), standin(1, "b")],
        },
        {
            "name": "mid",
            "gpu_class": "L4",
            "members": [standin(2, "c"), standin(3, "d")],
        },
        {
            "name": "large",
            "gpu_class": "A100-40GB",
            "members": [standin(4, "e", gpu_fraction=0.5)],
        },
    ],
    "ingress": {"max_images_per_request": 4, "max_body_bytes": 200_000, "max_pixels": 512 * 512},
}
EXPECTED_PLACEMENT = {
    "small-a": ("accelerator_type:T4", 0.25),
    "small-b": ("accelerator_type:T4", 0.25),
    "mid-c": ("accelerator_type:L4", 0.25),
    "mid-d": ("accelerator_type:L4", 0.25),
    "large-e": ("accelerator_type:A100-40G", 0.5),
}


def png(votes: list[int]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(paint(votes)).save(buffer, format="PNG")
    return buffer.getvalue()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture(scope="module")
def cascade_url(ray_serve):
    from ray import serve

    from serve_app.app import build_app

    serve.run(build_app({"config": CONFIG}), name=APP, route_prefix=PREFIX)
    url = ray_serve + PREFIX
    # serve.run returns once replicas run; the proxy learns the route a moment later.
    assert wait_until(lambda: _healthy(url), timeout_s=60), "route never became reachable"
    yield url
    delete_app(APP)


@pytest.fixture(scope="module")
def client(cascade_url):
    with httpx.Client(base_url=cascade_url, timeout=60.0) as session:
        yield session


def classify_png(client, votes):
    response = client.post("/v1/classify", content=png(votes), headers=PNG)
    assert response.status_code == 200, response.text
    return ClassifyResponse.model_validate(response.json()).predictions


def test_agreement_exits_at_tier0(client):
    (pred,) = classify_png(client, [3, 3, 9, 9, 9])
    assert (pred.label, pred.class_name) == (3, "cat")
    assert (pred.exit_tier.name, pred.exit_tier.index) == ("small", 0)
    assert [t.tier for t in pred.tiers] == ["small"]
    assert pred.tiers[0].votes == {"a": 3, "b": 3}
    assert pred.cost.emulated and pred.cost.usd > 0
    assert set(pred.cost.device_seconds_by_gpu_class) == {"T4"}
    assert not pred.degraded


def test_disagreement_escalates_to_the_tier_that_agrees(client):
    (pred,) = classify_png(client, [1, 2, 5, 5, 7])
    assert (pred.label, pred.exit_tier.name) == (5, "mid")
    assert [t.decision for t in pred.tiers] == ["escalate", "exit"]
    assert set(pred.cost.device_seconds_by_gpu_class) == {"T4", "L4"}

    (pred,) = classify_png(client, [1, 2, 5, 6, 7])
    assert (pred.label, pred.exit_tier.name) == (7, "large")
    assert set(pred.cost.device_seconds_by_gpu_class) == {"T4", "L4", "A100-40GB"}


def test_mixed_request_escalates_only_undecided_images(client):
    votes = [[4, 4, 0, 1, 2], [4, 8, 6, 6, 2], [4, 8, 6, 1, 2]]
    response = client.post("/v1/classify", json={"images": [b64(png(v)) for v in votes]})
    assert response.status_code == 200, response.text
    preds = ClassifyResponse.model_validate(response.json()).predictions
    assert [p.exit_tier.index for p in preds] == [0, 1, 2]
    assert [p.label for p in preds] == [4, 6, 2]
    assert [len(p.tiers) for p in preds] == [1, 2, 3]
    # each image is charged exactly for the tiers it went through (timings themselves vary)
    charged = [set(p.cost.device_seconds_by_gpu_class) for p in preds]
    assert charged == [{"T4"}, {"T4", "L4"}, {"T4", "L4", "A100-40GB"}]
    assert all(p.cost.usd > 0 for p in preds)


def test_each_member_carries_its_tiers_placement(cascade_url):
    from ray import serve

    for name, (resource, gpus) in EXPECTED_PLACEMENT.items():
        info = serve.get_deployment_handle(name, app_name=APP).info.remote().result()
        assigned = info["assigned_resources"]
        assert assigned.get(resource) == pytest.approx(0.001), (name, assigned)
        assert assigned.get("GPU") == pytest.approx(gpus), (name, assigned)
        assert info["device"] == "cpu"  # logical GPUs only on this machine: emulation
        others = [k for k in assigned if k.startswith("accelerator_type:") and k != resource]
        assert not others


def test_member_processes_launch_idle_and_serve_at_their_priority(client):
    """A member's process starts at SCHED_IDLE (as root on Linux) and every thread leaves it
    when the constructor returns, also the forward threads that served since."""
    from ray import serve

    from serve_app.app import current_runtime_env
    from serve_app.cpu_priority import idle_launch_runtime_env, start_idle_enabled

    launched_idle = bool(idle_launch_runtime_env(current_runtime_env()))
    classify_png(client, [1, 2, 5, 6, 7])  # every member has run forward passes
    for name in EXPECTED_PLACEMENT:
        info = serve.get_deployment_handle(name, app_name=APP).info.remote().result()
        assert info["start_launched_idle"] is launched_idle, name
        assert info["start_ran_idle"] is start_idle_enabled(), name
        assert info["threads_at_sched_idle"] == 0, name


def test_stats_count_what_was_sent(client):
    before = StatsResponse.model_validate(client.get("/v1/stats").json())
    classify_png(client, [0, 0, 1, 1, 1])  # exits at small
    classify_png(client, [0, 1, 2, 2, 2])  # exits at mid
    client.post("/v1/classify", json={"images": [b64(png([5, 5, 5, 5, 5]))] * 2})
    assert client.post("/v1/classify", content=b"", headers=PNG).status_code == 400
    after = StatsResponse.model_validate(client.get("/v1/stats").json())
    assert after.requests - before.requests == 4
    diff = {
        key: count - before.responses_by_status.get(key, 0)
        for key, count in after.responses_by_status.items()
    }
    assert diff["2xx"] == 3 and diff["4xx"] == 1 and diff.get("5xx", 0) == 0
    assert after.requests == sum(after.responses_by_status.values())
    assert after.images - before.images == 4
    small_before, small_after = before.tiers[0], after.tiers[0]
    assert small_after.images_in - small_before.images_in == 4
    assert small_after.exits - small_before.exits == 3
    assert after.tiers[1].exits - before.tiers[1].exits == 1
    assert after.usd_total > before.usd_total and after.usd_per_1k_predictions > 0
    assert after.latency_ms.p50_ms is not None and after.emulated
    # where the time went: each member's calls split into parts that add up to the call
    assert after.anatomy.requests.count >= 3
    calls = after.anatomy.member_calls
    assert calls and all(summary.count > 0 for summary in calls.values())
    for summary in calls.values():
        assert set(summary.median_ms) == {"to_replica", "queue", "forward", "back"}
        assert summary.median_ms["forward"] > 0
        assert summary.total_p50_ms == pytest.approx(sum(summary.median_ms.values()), rel=0.5)


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"content": b"", "headers": PNG}, 400, "empty_body"),
        ({"content": b"garbage!", "headers": {"content-type": "image/jpeg"}}, 400, "corrupt_image"),
        ({"json": {"images": ["%%%"]}}, 400, "bad_base64"),
        ({"json": {"images": []}}, 422, "invalid_request"),
        ({"json": {"pictures": ["x"]}}, 422, "invalid_request"),
        ({"content": b"{not json", "headers": JSON}, 422, "invalid_request"),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415,
         "unsupported_media_type"),
        ({"json": {"images": ["AAAA"] * 5}}, 413, "too_many_images"),
        ({"content": b"x" * 300_000, "headers": PNG}, 413, "body_too_large"),
    ],
)
def test_bad_input_gets_4xx_json_naming_the_problem(client, kwargs, status, code):
    response = client.post("/v1/classify", **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_oversized_image_and_unknown_route(client):
    big = io.BytesIO()
    Image.new("RGB", (1024, 1024)).save(big, format="PNG")
    response = client.post("/v1/classify", content=big.getvalue(), headers=PNG)
    assert response.status_code == 413 and response.json()["error"]["code"] == "image_too_large"
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_cascade_and_health_routes(client):
    cascade = client.get("/v1/cascade").json()
    assert [t["name"] for t in cascade["tiers"]] == ["small", "mid", "large"]
    assert cascade["tiers"][2]["gpu_class"] == "A100-40GB"
    assert client.get("/healthz").json()["status"] == "ok"


def test_concurrent_requests_are_batched_across_requests(client):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        preds = list(pool.map(lambda v: classify_png(client, v), [[2, 2, 0, 0, 0]] * 16))
    assert all(p[0].label == 2 for p in preds)
    assert np.isfinite([p[0].cost.usd for p in preds]).all()
