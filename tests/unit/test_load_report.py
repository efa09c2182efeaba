"""The report files: JSON round-trips, Markdown states emulation and $/1k, plots are PNGs."""

import json

from cost_model.prices import PriceTable
from cost_model.summary import RequestCost
from load_tests.client.generator import LoadResult
from load_tests.client.records import RequestRecord, summarise
from load_tests.client.report import PLOTS, write_report

RUN = dict(url="http://x/v1/classify", schedule="poisson:5", max_requests=10, max_seconds=5.0,
           timeout_s=1.0, images=3)


def _result():
    records = [
        RequestRecord(seq=i, image_index=i, label=0, t_send=i * 0.3, latency_s=0.01 * (i + 1),
                      outcome="answered", status=200, ok=True, predicted=0, correct=True,
                      exit_tier=f"t{i % 2}", exit_tier_index=i % 2,
                      cost=RequestCost(device_seconds_by_gpu_class={"T4": 0.001, "L4": 0.002},
                                       usd=None, emulated=True))
        for i in range(6)
    ]
    records.append(RequestRecord(seq=6, image_index=0, label=0, t_send=2.0, latency_s=1.0,
                                 outcome="timeout", error="timeout after 1s"))
    summary = summarise(records, run=RUN, prices=PriceTable())
    return LoadResult(summary=summary, records=records, started_at_unix=1.7e9)


def test_write_report_files(tmp_path):
    paths = write_report(_result(), tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert LoadResult.model_validate(data).summary.sent == 7
    assert len(data["records"]) == 7
    markdown = paths["markdown"].read_text()
    assert "EMULATED" in markdown
    assert "| T4 |" in markdown and "| L4 |" in markdown
    assert "7 / 6 / 0 / 1" in markdown
    for name in PLOTS.values():
        png = (tmp_path / "out" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
