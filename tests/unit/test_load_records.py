"""The load summary: accounting, accuracy over 2xx, percentiles, exits, cost."""

import pytest

from cost_model.prices import PriceTable
from cost_model.summary import RequestCost
from load_tests.client.records import RequestRecord, summarise

RUN = dict(url="http://x/v1/classify", schedule="closed:2", max_requests=10, max_seconds=5.0,
           timeout_s=1.0, images=4)


def _ok(seq, latency, correct, tier, t4_s=0.002):
    return RequestRecord(
        seq=seq, image_index=seq, label=1, t_send=seq * 0.1, latency_s=latency,
        outcome="answered", status=200, ok=True, predicted=1 if correct else 2,
        correct=correct, exit_tier=f"t{tier}", exit_tier_index=tier,
        cost=RequestCost(device_seconds_by_gpu_class={"T4": t4_s}, usd=None, emulated=True),
        degraded=tier == 1,
    )


def _records():
    return [
        _ok(0, 0.010, True, 0), _ok(1, 0.020, True, 1), _ok(2, 0.030, False, 0),
        _ok(3, 0.040, True, 0),
        RequestRecord(seq=4, image_index=0, label=1, t_send=0.4, latency_s=0.005,
                      outcome="answered", status=503, error="overloaded: shed"),
        RequestRecord(seq=5, image_index=1, label=1, t_send=0.5, latency_s=0.002,
                      outcome="answered", status=200, error="bad response body: KeyError"),
        RequestRecord(seq=6, image_index=2, label=1, t_send=0.6, latency_s=1.0,
                      outcome="timeout", error="timeout after 1s"),
        RequestRecord(seq=7, image_index=3, label=1, t_send=0.7, latency_s=0.001,
                      outcome="error", error="ConnectError"),
    ]


def test_accounting_and_counts():
    s = summarise(_records(), run=RUN, prices=PriceTable())
    assert (s.sent, s.answered, s.errors, s.timeouts) == (8, 6, 1, 1)
    assert s.sent == s.answered + s.errors + s.timeouts
    assert s.ok == 4 and s.bad_responses == 1 and s.degraded == 1
    assert s.status_counts == {"200": 5, "503": 1}
    assert s.accuracy == pytest.approx(3 / 4)
    assert s.exits_per_tier == {"t0": 3, "t1": 1}


def test_latency_throughput_and_cost_use_ok_records():
    s = summarise(_records(), run=RUN, prices=PriceTable())
    assert s.latency.p50_ms == pytest.approx(25.0)
    assert s.latency.max_ms == pytest.approx(40.0)
    assert s.duration_s == pytest.approx(0.6 + 1.0)  # the timeout ends last
    assert s.throughput_rps == pytest.approx(4 / 1.6)
    assert s.offered_rps == pytest.approx(8 / 0.7)
    assert s.cost.predictions == 4
    assert s.cost.device_ms_per_prediction == pytest.approx(2.0)
    assert s.cost.attributed_usd == pytest.approx(0.008 * 0.526 / 3600)
    assert s.emulated


def test_empty_run():
    s = summarise([], run=RUN, prices=PriceTable())
    assert s.sent == 0 and s.accuracy is None and s.latency.p99_ms is None
    assert s.throughput_rps is None and s.exits_per_tier == {}


def test_driver_parses_the_real_response_schema():
    from cost_model.record import CostRecord
    from load_tests.client.generator import _parse_prediction
    from load_tests.client.images import RequestImage
    from serve_app.schemas import ClassifyResponse, ExitTier, Prediction

    cost = CostRecord(device_seconds_by_gpu_class={"T4": 0.003}, usd=1e-6, emulated=True)
    response = ClassifyResponse(predictions=[Prediction(
        label=3, class_name="cat", confidence=0.8, exit_tier=ExitTier(name="t1", index=1),
        tiers=[], latency_ms=12.0, cost=cost, degraded=True,
    )])
    record: dict = {}
    image = RequestImage(index=0, path="x.jpg", body=b"", label=3, class_name="cat")
    _parse_prediction(record, response.model_dump(mode="json"), image)
    assert record["ok"] and record["correct"] and record["predicted"] == 3
    assert (record["exit_tier"], record["exit_tier_index"], record["degraded"]) == ("t1", 1, True)
    assert record["cost"].device_seconds_by_gpu_class == {"T4": 0.003}
    assert record["server_latency_ms"] == 12.0  # the cascade's own timing, kept per request
