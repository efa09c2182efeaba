"""Item 4: a failed member leaves its tier below quorum (it escalates), a failed tier hands on to
the next tier, and killing member replicas under load (Ray actor API) loses nothing:
every request gets exactly one well-formed answer and Serve restores the replicas."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from load_tests.chaos.faults import client_accounting, kill_replica, wait_recovered
from load_tests.client.generator import run_load
from load_tests.client.images import RequestImage
from load_tests.client.schedules import parse_schedule
from tests.reliability.helpers import PNG, png

pytestmark = pytest.mark.timeout(180)


def classify(url: str, body: bytes) -> dict:
    response = httpx.post(url + "/v1/classify", content=body, headers=PNG, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["predictions"][0]


def test_failed_member_below_quorum_escalates_never_a_single_vote_exit(rel_url):
    """Tier `fast` is unanimous (tau = 1.0) over a, b: its quorum is both. With a failed,
    b's lone vote (6) must not exit: the image escalates to `slow` (votes 9), marked."""
    prediction = classify(rel_url, png([6, 6, 9], fail=(0,)))
    fast = prediction["tiers"][0]
    assert prediction["exit_tier"]["name"] == "slow" and prediction["label"] == 9
    assert prediction["degraded"] is True and "member(s) failed" in prediction["reason"]
    assert "below its quorum of 2; escalated" in prediction["reason"]
    assert "a" in fast["failed"] and fast["votes"] == {"a": None, "b": 6}
    assert fast["decision"] == "escalate" and fast["quorum_met"] is False


def test_whole_tier_failing_goes_on_to_the_next_tier_flagged(rel_url):
    prediction = classify(rel_url, png([6, 6, 8], fail=(0, 1)))
    assert prediction["exit_tier"]["name"] == "slow" and prediction["label"] == 8
    assert prediction["tiers"][0]["decision"] == "failed"
    assert prediction["degraded"] is True and "no member answered" in prediction["reason"]


def test_killing_replicas_under_load_loses_no_request(rel_url):
    images = [
        RequestImage(index=i, path="", body=png([i, i]), label=i, class_name=str(i))
        for i in range(10)
    ]
    kills: list[tuple[str, str]] = []

    def chaos():
        for deployment in ("fast-a", "fast-b"):
            time.sleep(2.0)
            kills.append((deployment, kill_replica("rel", deployment)))

    killer = threading.Thread(target=chaos)
    killer.start()
    result = run_load(rel_url + "/v1/classify", images, parse_schedule("closed:3"),
                      max_requests=100_000, max_seconds=8, timeout_s=30, progress=False)
    killer.join()
    books = client_accounting(result.records)
    assert len(kills) == 2
    assert books["lost"] == 0 and books["malformed_responses"] == 0, books
    assert books["duplicate_seq"] == 0 and books["missing_seq"] == 0
    assert result.summary.status_counts == {"200": books["sent"]}, result.summary.status_counts
    assert result.summary.accuracy == 1.0
    for deployment, killed in kills:
        recovered = wait_recovered("rel", deployment, killed, target=2, timeout_s=90)
        assert recovered is not None, f"Serve did not restore {deployment}"
    # the image door followed the first tier's running replicas: it shrank while a killed
    # replica was down and opened again once it was back
    from tests.integration.serve_helpers import wait_until

    def door() -> dict:
        return httpx.get(rel_url + "/v1/stats", timeout=10).json()["door"]

    assert door()["watched"] == ["fast-a", "fast-b"]
    assert door()["shrinks"] >= 1, str(door())
    assert wait_until(lambda: door()["limit"] == door()["configured_limit"], timeout_s=15), door()
