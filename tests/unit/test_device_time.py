"""Attributed cost checked by hand: batch split, emulation, fan-out sums, $/1k summaries."""

import pytest

from cost_model.device_time import DeviceClock, split_batch
from cost_model.prices import PriceTable
from cost_model.provisioned import ProvisionedCost
from cost_model.summary import RequestCost, summarise_costs

T4_PER_S = 0.526 / 3600
L4_PER_S = 0.8048 / 3600


def test_batch_of_four_on_emulated_l4_by_hand():
    # A batch of 4 took 36 ms of CPU; an L4 is 1.8x a T4, so the L4 would take 20 ms,
    # and each of the 4 items is charged 5 ms of L4 time.
    device_s = DeviceClock().device_seconds(0.036, "L4", emulated=True)
    assert device_s == pytest.approx(0.020)
    per_item = split_batch(device_s, 4)
    assert per_item == pytest.approx(0.005)
    assert PriceTable().usd(per_item, "L4") == pytest.approx(0.005 * L4_PER_S)


def test_measured_gpu_time_is_taken_as_it_is_and_priced_by_class():
    clock = DeviceClock()
    assert clock.device_seconds(0.036, "L4", emulated=False) == pytest.approx(0.036)
    assert clock.usd(3600.0, "T4") == pytest.approx(0.526)
    assert clock.usd_per_second_by_class()["L4"] == pytest.approx(L4_PER_S)
    with pytest.raises(ValueError, match="measured seconds"):
        clock.device_seconds(-1.0, "T4", emulated=True)


def test_split_batch_rejects_nonsense():
    with pytest.raises(ValueError, match="batch_size"):
        split_batch(0.1, 0)
    with pytest.raises(ValueError, match="device seconds"):
        split_batch(-0.1, 2)


def test_summary_per_1k_by_hand():
    costs = [
        RequestCost(device_seconds_by_gpu_class={"T4": 0.005}, usd=0.005 * T4_PER_S,
                    emulated=True),
        RequestCost(device_seconds_by_gpu_class={"T4": 0.005, "L4": 0.004},
                    usd=0.005 * T4_PER_S + 0.004 * L4_PER_S, emulated=True),
    ]
    provisioned = ProvisionedCost(window_s=10, usd=1e-5, gpu_seconds_by_class={},
                                  usd_by_class={"T4": 1e-5}, usd_by_deployment={}, prices={})
    summary = summarise_costs(costs, PriceTable(), provisioned)
    t4_usd, l4_usd = 0.010 * T4_PER_S, 0.004 * L4_PER_S
    assert summary.predictions == 2
    assert summary.device_ms_per_prediction == pytest.approx(7.0)
    assert summary.attributed_usd == pytest.approx(t4_usd + l4_usd)
    assert summary.attributed_usd_per_1k == pytest.approx((t4_usd + l4_usd) * 500)
    assert summary.attributed_usd_per_1k_by_gpu_class == pytest.approx(
        {"T4": t4_usd * 500, "L4": l4_usd * 500})
    assert summary.server_reported_usd_per_1k == pytest.approx((t4_usd + l4_usd) * 500)
    assert summary.provisioned_usd_per_1k == pytest.approx(1e-5 * 500)
    assert summary.utilisation == pytest.approx((t4_usd + l4_usd) / 1e-5)
    assert summary.emulated and "EMULATED" in summary.notes[0]
    assert summary.prices["L4"].source.startswith("AWS")


def test_spot_pricing_reprices_device_seconds():
    costs = [RequestCost(device_seconds_by_gpu_class={"T4": 3.6}, usd=None, emulated=False)]
    summary = summarise_costs(costs, PriceTable(kind="spot"))
    assert summary.attributed_usd == pytest.approx(0.2288 / 1000)
    assert summary.server_reported_usd_per_1k is None
    assert not summary.emulated and summary.utilisation is None
    assert summary.pricing == "spot"


def test_empty_run_has_no_per_1k_figures():
    summary = summarise_costs([], PriceTable())
    assert summary.attributed_usd_per_1k is None and summary.device_ms_per_prediction is None


def test_request_cost_reads_the_servers_full_cost_record():
    from cost_model.record import CostRecord

    record = CostRecord(
        device_seconds_by_member={"t0/resnet20": 0.004}, device_seconds_by_tier={"t0": 0.004},
        device_seconds_by_gpu_class={"T4": 0.004}, usd_by_gpu_class={"T4": 0.004 * T4_PER_S},
        usd=0.004 * T4_PER_S, cpu_seconds=0.004, emulated=True,
    )
    cost = RequestCost.model_validate(record.model_dump(mode="json"))
    assert cost.device_seconds_by_gpu_class == {"T4": 0.004} and cost.emulated
    assert cost.usd == pytest.approx(0.004 * T4_PER_S)
