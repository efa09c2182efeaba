"""Cost record arithmetic, checked against numbers worked out by hand."""

import pytest

from cost_model.catalog import load_catalog
from cost_model.device_time import DeviceClock
from cost_model.record import (
    CostRecord,
    MemberUsage,
    merge,
    record_from_usage,
    usd_per_1k,
)

# $/s: T4 at $3.60/h = 0.001 $/s, A100 at $36/h = 0.01 $/s (round numbers for hand checks)
PRICES = {"T4": 0.001, "A100": 0.01}


def usage(tier, member, gpu, seconds, emulated=True, cpu=0.0):
    return MemberUsage(tier, member, gpu, seconds, emulated, cpu)


def test_one_image_through_two_tiers():
    record = record_from_usage(
        [
            usage("small", "a", "T4", 0.002, cpu=0.002),
            usage("small", "b", "T4", 0.003, cpu=0.003),
            usage("large", "r56", "A100", 0.001, cpu=0.004),
        ],
        PRICES,
    )
    assert record.device_seconds_by_member == pytest.approx(
        {"small/a": 0.002, "small/b": 0.003, "large/r56": 0.001}
    )
    assert record.device_seconds_by_tier == pytest.approx({"small": 0.005, "large": 0.001})
    assert record.device_seconds_by_gpu_class == pytest.approx({"T4": 0.005, "A100": 0.001})
    # T4: 0.005 s x 0.001 $/s = 5e-6; A100: 0.001 s x 0.01 $/s = 1e-5; total 1.5e-5
    assert record.usd_by_gpu_class == pytest.approx({"T4": 5e-6, "A100": 1e-5})
    assert record.usd == pytest.approx(1.5e-5)
    assert record.device_seconds == pytest.approx(0.006)
    assert record.cpu_seconds == pytest.approx(0.009)
    assert record.emulated is True


def test_empty_usage_is_zero_and_not_emulated():
    record = record_from_usage([], PRICES)
    assert record.usd == 0 and record.device_seconds == 0 and record.emulated is False


def test_measured_gpu_time_is_not_flagged_emulated():
    record = record_from_usage([usage("t", "m", "T4", 0.5, emulated=False)], PRICES)
    assert record.emulated is False
    assert record.usd == pytest.approx(0.0005)


def test_merge_sums_key_by_key():
    first = record_from_usage([usage("small", "a", "T4", 0.002)], PRICES)
    second = record_from_usage(
        [usage("small", "a", "T4", 0.004), usage("large", "r", "A100", 0.1, emulated=False)],
        PRICES,
    )
    total = merge([first, second])
    assert total.device_seconds_by_member == pytest.approx({"small/a": 0.006, "large/r": 0.1})
    assert total.device_seconds_by_gpu_class == pytest.approx({"T4": 0.006, "A100": 0.1})
    # 0.006 x 0.001 + 0.1 x 0.01 = 6e-6 + 1e-3
    assert total.usd == pytest.approx(0.001006)
    assert total.emulated is True
    assert merge([]) == CostRecord()


def test_usd_per_thousand_predictions():
    assert usd_per_1k(0.003, 600) == pytest.approx(0.005)
    assert usd_per_1k(1.0, 0) is None


def test_catalog_prices_are_hourly_over_3600():
    prices = DeviceClock(load_catalog()).usd_per_second_by_class()
    assert prices["T4"] == pytest.approx(0.526 / 3600)
    one_hour_on_t4 = record_from_usage([usage("t", "m", "T4", 3600.0)], prices)
    assert one_hour_on_t4.usd == pytest.approx(0.526)


def test_unknown_class_and_negative_time_are_errors():
    with pytest.raises(KeyError, match="H200"):
        record_from_usage([usage("t", "m", "H200", 1.0)], PRICES)
    with pytest.raises(ValueError, match="negative"):
        record_from_usage([usage("t", "m", "T4", -1.0)], PRICES)
