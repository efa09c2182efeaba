"""The chaos attack phases' pure parts: the bomb body and the quorum audit."""

import base64
import io
import json

from PIL import Image

from load_tests.chaos.attacks import bomb_body, client_shape, paired_changes, summarise_stream


def test_bomb_body_is_small_but_huge_in_pixels():
    body = bomb_body(count=3, side=2048)
    images = json.loads(body)["images"]
    assert len(images) == 3 and len(body) < 100_000
    with Image.open(io.BytesIO(base64.b64decode(images[0]))) as image:
        assert image.size == (2048, 2048)


def tier(decision, quorum_met=True):
    return {"decision": decision, "quorum_met": quorum_met}


def test_quorum_audit_counts_silent_exits_and_accuracy_of_200s_only():
    rows = [
        {"status": 200, "correct": True, "degraded": True,
         "tiers": [tier("escalate", False), tier("exit")]},
        {"status": 200, "correct": False, "degraded": False, "tiers": [tier("exit", False)]},
        {"status": 200, "correct": True, "degraded": False, "tiers": [tier("exit")]},
        {"status": 503},
    ]
    summary = summarise_stream(rows)
    assert summary["accuracy"] == round(2 / 3, 4)
    assert summary["status_counts"] == {"200": 3, "503": 1}
    assert (summary["below_quorum"], summary["escalated_or_marked"],
            summary["silent_exits"]) == (2, 1, 1)


def test_paired_changes_compare_the_same_images_and_skip_unanswered_ones():
    clean = [{"index": 0, "status": 200, "label": 3, "correct": True},
             {"index": 1, "status": 200, "label": 5, "correct": False},
             {"index": 2, "status": 200, "label": 7, "correct": True},
             {"index": 3, "status": 503}]
    faulted = [{"index": 0, "status": 200, "label": 4, "correct": False},
               {"index": 1, "status": 200, "label": 1, "correct": True},
               {"index": 2, "status": 200, "label": 7, "correct": True},
               {"index": 3, "status": 200, "label": 0, "correct": True}]
    assert paired_changes(clean, faulted) == {
        "paired_images": 3, "label_changed": 2, "became_wrong": 1, "became_right": 1}


def test_classify_each_once_answers_every_image_and_retries_a_shed_request(monkeypatch):
    """A 503 + Retry-After is re-sent (the shared well-behaved client), rows keep order."""
    from types import SimpleNamespace

    import httpx

    from load_tests.chaos import attacks

    calls = {"n": 0}

    def handler(request):
        calls["n"] += 1
        n = len(json.loads(request.content)["images"])
        if calls["n"] == 1:
            return httpx.Response(503, headers={"retry-after": "0"}, json={"error": {}})
        return httpx.Response(200, json={"predictions": [
            {"label": 1, "degraded": False, "tiers": []}] * n})

    real = httpx.Client
    monkeypatch.setattr(httpx, "Client",
                        lambda **kw: real(transport=httpx.MockTransport(handler), **kw))
    images = [SimpleNamespace(index=i, body=b"x", label=i % 2) for i in range(5)]
    rows = attacks.classify_each_once("http://test/v1/classify", images, per_request=4,
                                      workers=1)
    assert [r["index"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["status"] for r in rows] == [200] * 5
    assert [r["retries"] for r in rows] == [1, 1, 1, 1, 0]
    assert [r["correct"] for r in rows] == [False, True, False, True, False]


def test_the_quorum_client_fits_the_ingress_door():
    for door in (1, 6, 25, 45, 256):
        per_request, workers = client_shape(door)
        assert 1 <= per_request <= 16 and 1 <= workers <= 8
        assert per_request * workers <= door  # not built to be shed
    assert client_shape(25) == (6, 4)
