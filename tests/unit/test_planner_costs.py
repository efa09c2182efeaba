"""Member costs: measured GPU timings win over emulation; rates set the batch sizes priced."""

import pytest

from cost_model.calibration import EmulationCalibration
from cost_model.catalog import load_catalog
from cost_model.device_time import DeviceClock
from planner.costs import Batching, CostTable, cheapest_class, uniform_cost_table
from planner.profile import MemberProfile, ProfileFile, cost_table

CLOCK = DeviceClock(
    calibration=EmulationCalibration(
        reference="resnet50", cpu_seconds_per_image=0.2, batch_size=2, host="test"
    )
)


def test_measured_profile_overrides_emulation_and_prices_by_class():
    local = ProfileFile(members={
        "a": MemberProfile(model="a", mflops=40.0, layers=10,
                           cpu_seconds_per_image={1: 0.004, 8: 0.002}),
        "b": MemberProfile(model="b", layers=20, cpu_seconds_per_image={8: 0.010}),
    })
    real = ProfileFile(members={
        "a": MemberProfile(model="a", device_seconds_per_image={"A100-40GB": {8: 0.0001}}),
    })
    table = cost_table(local, ["T4", "A100-40GB"], batch_size=8, measured=real, clock=CLOCK)
    assert table.member_ms("a", "A100-40GB") == pytest.approx(0.1)  # measured, used as is
    # b on T4, batch 8: one call = floor + 20 layer floors + 0.08 s CPU = 0.4 ResNet-50 images.
    expected_call_s = CLOCK.model_seconds("T4", layers=20, reference_images=0.08 / 0.2)
    assert table.member_ms("b", "T4") == pytest.approx(expected_call_s / 8 * 1000)
    price = load_catalog().get("T4").price_per_hour_usd / 3600 / 1000
    assert table.member_usd("b", "T4") == pytest.approx(table.member_ms("b", "T4") * price)
    assert table.emulated and table.mflops == {"a": 40.0}


def test_member_without_any_timing_is_named():
    empty = ProfileFile(members={"ghost": MemberProfile(model="ghost")})
    with pytest.raises(ValueError, match="ghost"):
        cost_table(empty, ["T4"], clock=CLOCK)


def test_a_lower_rate_means_emptier_batches_and_a_higher_cost_per_image():
    profile = ProfileFile(members={
        "m": MemberProfile(model="m", layers=20,
                           cpu_seconds_per_image={k: 0.002 for k in range(1, 9)}),
    })
    slow = cost_table(profile, ["T4"], clock=CLOCK, batching=Batching(5.0))
    busy = cost_table(profile, ["T4"], clock=CLOCK, batching=Batching(2000.0))
    assert slow.predicted_batch() < 1.1 < 4 < busy.predicted_batch()
    assert slow.member_ms("m", "T4") > 2 * busy.member_ms("m", "T4")


def test_slo_sends_the_large_model_to_the_fast_class_and_price_the_small_one_to_the_cheap():
    # Toy pool in the device model itself: a shallow small net and a deep large one.
    profile = ProfileFile(members={
        "small": MemberProfile(model="small", layers=8, cpu_seconds_per_image={1: 0.001}),
        "large": MemberProfile(model="large", layers=200, cpu_seconds_per_image={1: 2.0}),
    })
    classes = ["T4", "A100-40GB"]
    costs = cost_table(profile, classes, batch_size=1, clock=CLOCK)
    assert cheapest_class(costs, ["small"], classes) == "T4"
    assert cheapest_class(costs, ["large"], classes) == "T4"  # cheapest without an SLO ...
    t4_ms = costs.tier_latency_ms(["large"], "T4")
    a100_ms = costs.tier_latency_ms(["large"], "A100-40GB")
    assert a100_ms < t4_ms
    slo = (a100_ms + t4_ms) / 2
    assert cheapest_class(costs, ["large"], classes, slo_ms=slo) == "A100-40GB"  # ... not within
    assert cheapest_class(costs, ["small"], classes, slo_ms=slo) == "T4"


def test_uniform_table_is_the_same_device_time_on_every_class():
    table = uniform_cost_table({"m": 2.0}, ["T4", "L4"])
    assert isinstance(table, CostTable)
    assert table.member_ms("m", "T4") == table.member_ms("m", "L4") == 2.0
    assert table.member_usd("m", "L4") > table.member_usd("m", "T4")
