"""Item 6: /v1/stats reconciles (accepted = 2xx + 4xx + 5xx, and equals what the client
saw reach the ingress); the load generator accounts for every request exactly once."""

from __future__ import annotations

import httpx
import pytest

from load_tests.chaos.faults import client_accounting
from load_tests.client.generator import run_load
from load_tests.client.images import RequestImage
from load_tests.client.schedules import parse_schedule
from tests.reliability.helpers import png

pytestmark = pytest.mark.timeout(120)


def stats(url: str) -> dict:
    return httpx.get(url + "/v1/stats", timeout=10).json()


def test_stats_reconcile_with_what_the_client_saw(rel_url):
    images = [
        RequestImage(index=i, path="", body=png([i, i]), label=i, class_name=str(i))
        for i in range(4)
    ] + [RequestImage(index=4, path="", body=b"not an image", label=0, class_name="0")]
    before = stats(rel_url)
    result = run_load(rel_url + "/v1/classify", images, parse_schedule("closed:3"),
                      max_requests=40, max_seconds=20, timeout_s=20, progress=False)
    after = stats(rel_url)
    books = client_accounting(result.records)
    assert books["sent"] == 40 and books["lost"] == 0
    assert books["duplicate_seq"] == 0 and books["missing_seq"] == 0
    assert books["malformed_responses"] == 0
    statuses = result.summary.status_counts
    assert statuses == {"200": 32, "400": 8}, statuses
    assert after["requests"] == sum(after["responses_by_status"].values())
    delta = {k: after["responses_by_status"][k] - before["responses_by_status"].get(k, 0)
             for k in after["responses_by_status"]}
    assert after["requests"] - before["requests"] == books["reached_ingress"] == 40
    assert delta["2xx"] == 32 and delta["4xx"] == 8 and delta.get("5xx", 0) == 0
