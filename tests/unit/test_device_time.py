"""Attributed cost checked by hand: batch split, emulation, fan-out sums, $/1k summaries."""

import pytest

from cost_model.calibration import EmulationCalibration
from cost_model.device_time import DeviceClock, split_batch
from cost_model.prices import PriceTable
from cost_model.provisioned import ProvisionedCost
from cost_model.summary import RequestCost, summarise_costs

T4_PER_S = 0.526 / 3600
L4_PER_S = 0.8048 / 3600


CALIBRATION = EmulationCalibration(
    reference="resnet50", cpu_seconds_per_image=0.2, batch_size=2, host="test"
)


def test_batch_of_four_on_emulated_l4_by_hand():
    # L4 (catalog): peak 12881.7 ResNet-50 images/s, batch-1 p90 0.349 ms; call floor 15 us;
    # ResNet-50 has 54 layers -> layer floor = (0.349 - 0.015 - 1/12.8817) ms / 54.
    layer_s = (0.349e-3 - 15e-6 - 1 / 12881.7) / 54
    # A batch of 4 took 0.4 s of CPU = 2 ResNet-50 images of work (0.2 s each here), in a
    # 20-layer network: floor + 20 layer floors + 2 images at the L4's peak rate.
    clock = DeviceClock(calibration=CALIBRATION)
    call_s = clock.call_seconds(0.4, "L4", layers=20, emulated=True)
    assert call_s == pytest.approx(15e-6 + 20 * layer_s + 2 / 12881.7)
    per_item = split_batch(call_s, 4)
    assert PriceTable().usd(per_item, "L4") == pytest.approx(call_s / 4 * L4_PER_S)


def test_small_network_is_cheapest_where_floors_are_cheap_large_batch_where_peak_is():
    clock = DeviceClock(calibration=CALIBRATION)

    def usd_per_image(gpu, layers, images_of_work, batch):
        seconds = clock.model_seconds(gpu, layers=layers, reference_images=images_of_work)
        return clock.usd(seconds / batch, gpu)

    # A shallow CIFAR-sized net at batch 1: floors dominate, the A100 costs more per image.
    assert usd_per_image("T4", 10, 0.003, 1) < usd_per_image("A100-40GB", 10, 0.003, 1)
    # Device time rises with depth and with work, on every class (monotone).
    for gpu in ("T4", "L4", "A100-40GB", "H100"):
        assert clock.model_seconds(gpu, layers=10, reference_images=1) < clock.model_seconds(
            gpu, layers=20, reference_images=1)
        assert clock.model_seconds(gpu, layers=10, reference_images=1) < clock.model_seconds(
            gpu, layers=10, reference_images=2)
    # The A100's higher peak pays off only when there is enough work per call.
    big = usd_per_image("A100-40GB", 54, 256, 256) / usd_per_image("A100-40GB", 54, 1, 1)
    small = usd_per_image("T4", 54, 256, 256) / usd_per_image("T4", 54, 1, 1)
    assert big < small


def test_measured_gpu_time_is_taken_as_it_is_and_priced_by_class():
    clock = DeviceClock()
    assert clock.call_seconds(0.036, "L4", layers=20, emulated=False) == pytest.approx(0.036)
    assert clock.usd(3600.0, "T4") == pytest.approx(0.526)
    assert clock.usd_per_second_by_class()["L4"] == pytest.approx(L4_PER_S)
    with pytest.raises(ValueError, match="measured seconds"):
        clock.call_seconds(-1.0, "T4", layers=1, emulated=True)
    with pytest.raises(ValueError, match="calibration"):
        clock.call_seconds(0.1, "T4", layers=1, emulated=True)


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
