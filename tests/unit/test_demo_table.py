"""The demo's table shows the 503s its client waited out, next to ok / sent."""

from coe.demo import format_table


def _app(retried):
    return {"ok": 1000, "sent": 1000, "accuracy": 0.83, "throughput_rps": 19.6,
            "latency": {"p50_ms": 22.0, "p99_ms": 80.0}, "exits_per_tier": {"tier0": 1000},
            "cost": {"device_ms_per_prediction": 0.07, "attributed_usd_per_1k": 1.7e-5},
            "retries_after_503": retried}


def test_the_table_counts_the_sheds_each_app_waited_out():
    table = format_table({"cascade": _app(1), "single-best": _app(0)}, emulated=True)
    (row,) = [line for line in table.splitlines() if line.startswith("503s waited out")]
    assert row.split()[-2:] == ["1", "0"]
    assert "(emulated GPU classes)" in table
