"""Item 3: per-request deadline (config default, header override); `best_effort` answers
with the last completed tier's decision flagged degraded; `error` answers 504; work
cancelled by the deadline is stopped (the slow member never runs the queued requests)."""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import pytest

from tests.reliability.helpers import PNG, png

pytestmark = pytest.mark.timeout(120)
DEADLINE = "X-Coe-Deadline-Ms"


def test_best_effort_answers_with_last_completed_tier(rel_url):
    # members a, b disagree -> tier fast escalates to the slow tier (1.5 s per forward)
    start = time.perf_counter()
    response = httpx.post(rel_url + "/v1/classify", content=png([3, 4, 5]),
                          headers={**PNG, DEADLINE: "400"}, timeout=30)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text
    prediction = response.json()["predictions"][0]
    assert prediction["degraded"] is True
    assert "deadline of 400 ms expired during tier slow" in prediction["reason"]
    assert prediction["exit_tier"]["name"] == "fast" and prediction["label"] in (3, 4)
    assert elapsed < 1.4  # answered at the deadline, not after the slow tier
    # without the header (no default deadline configured) the slow tier answers
    full = httpx.post(rel_url + "/v1/classify", content=png([3, 4, 5]), headers=PNG, timeout=30)
    assert full.status_code == 200 and full.json()["predictions"][0]["label"] == 5
    assert full.json()["predictions"][0]["degraded"] is False


def test_bad_deadline_header_is_a_400(rel_url):
    for value in ("soon", "-5", "0", "nan", "1e12"):
        response = httpx.post(rel_url + "/v1/classify", content=png([1, 1]),
                              headers={**PNG, DEADLINE: value}, timeout=30)
        assert response.status_code == 400, (value, response.text)
        assert response.json()["error"]["code"] == "bad_deadline"


def test_error_mode_answers_504_and_cancelled_work_is_stopped(strict_url):
    from ray import serve

    slow = serve.get_deployment_handle("tier1-y", app_name="strict")
    before = slow.info.remote().result(timeout_s=30)["images"]

    def send(_):
        return httpx.post(strict_url + "/v1/classify", content=png([2]),
                          headers={**PNG, DEADLINE: "300"}, timeout=30)

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(send, range(6)))
    elapsed = time.perf_counter() - start
    assert [r.status_code for r in responses] == [504] * 6, [r.text for r in responses]
    assert all(r.json()["error"]["code"] == "deadline_exceeded" for r in responses)
    assert elapsed < 3.0  # 6 x 1.5 s of slow work was not waited for
    time.sleep(2 * 1.5 + 0.5)  # anything still queued would have run by now
    ran = slow.info.remote().result(timeout_s=30)["images"] - before
    assert ran <= 2, f"slow member ran {ran} of 6 cancelled requests"
