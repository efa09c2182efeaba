"""Provisioned cost from a replica timeline, and sampling that timeline from Serve status."""

from dataclasses import dataclass, field

import pytest

from cost_model.prices import PriceTable
from cost_model.provisioned import ReplicaSample, provisioned_cost
from load_tests.client.replica_sampler import (
    Placement,
    ServeReplicaSampler,
    placement_from_cascade,
    samples_from_status,
)

T4_H, A100_H = 0.526, 4.096


def _s(t, deployment, replicas, gpu_class="T4", fraction=0.5):
    return ReplicaSample(t=t, deployment=deployment, replicas=replicas, gpu_class=gpu_class,
                         gpu_fraction=fraction)


def test_fake_timeline_by_hand():
    timeline = [
        _s(0, "t0-a", 1), _s(100, "t0-a", 3), _s(200, "t0-a", 2),          # T4, 0.5 GPU each
        _s(0, "t1-b", 1, "A100-40GB", 1.0), _s(300, "t1-b", 0, "A100-40GB", 1.0),
        _s(0, "ingress", 2, None, 0.0),                                   # CPU only: free
    ]
    cost = provisioned_cost(timeline, PriceTable(), t_start=0, t_end=360)
    # t0-a: 1*0.5*100 + 3*0.5*100 + 2*0.5*160 = 50 + 150 + 160 = 360 T4 GPU-seconds.
    # t1-b: 1*1.0*300 = 300 A100 GPU-seconds, then zero replicas.
    assert cost.gpu_seconds_by_class == pytest.approx({"T4": 360, "A100-40GB": 300})
    assert cost.usd_by_class["T4"] == pytest.approx(360 / 3600 * T4_H)
    assert cost.usd_by_class["A100-40GB"] == pytest.approx(300 / 3600 * A100_H)
    assert cost.usd == pytest.approx(360 / 3600 * T4_H + 300 / 3600 * A100_H)
    assert cost.usd_by_deployment["ingress"] == 0.0
    assert cost.window_s == 360


def test_window_clips_samples_and_backfills_the_first():
    timeline = [_s(-50, "d", 2), _s(50, "d", 4), _s(500, "d", 8)]
    cost = provisioned_cost(timeline, PriceTable(), t_start=10, t_end=110)
    # 2 replicas from 10 to 50, 4 from 50 to 110, at 0.5 GPU each: 40 + 120 GPU-seconds.
    assert cost.gpu_seconds_by_class["T4"] == pytest.approx(160)
    late = provisioned_cost([_s(30, "d", 2)], PriceTable(), t_start=10, t_end=40)
    assert late.gpu_seconds_by_class["T4"] == pytest.approx(30)  # backfilled to t_start


def test_override_price_for_one_deployment():
    from cost_model.prices import PriceOverride

    table = PriceTable(overrides={"d": PriceOverride(usd_per_hour=1.0, source="x", date="2025")})
    cost = provisioned_cost([_s(0, "d", 1, fraction=1.0)], table, t_start=0, t_end=3600)
    assert cost.usd == pytest.approx(1.0)


def test_window_must_not_be_reversed():
    with pytest.raises(ValueError, match="window ends before it starts"):
        provisioned_cost([], PriceTable(), t_start=5, t_end=1)


@dataclass
class _Deployment:
    replica_states: dict


@dataclass
class _App:
    deployments: dict = field(default_factory=dict)


@dataclass
class _Status:
    applications: dict = field(default_factory=dict)


def _status():
    return _Status({
        "cascade": _App({
            "t0-resnet20": _Deployment({"RUNNING": 2, "STARTING": 1}),
            "Ingress": _Deployment({"RUNNING": 1, "STOPPING": 1}),
        }),
        "other": _App({"x": _Deployment({"RUNNING": 5})}),
    })


def test_samples_from_status_counts_holding_replicas_and_places_them():
    placement = {"t0-resnet20": Placement("T4", 0.25)}
    samples = samples_from_status(_status(), placement, t=12.0, app_name="cascade")
    by_name = {s.deployment: s for s in samples}
    assert set(by_name) == {"t0-resnet20", "Ingress"}
    assert by_name["t0-resnet20"].replicas == 2  # STARTING may be waiting for resources
    assert by_name["t0-resnet20"].gpu_class == "T4"
    assert by_name["t0-resnet20"].gpu_fraction == 0.25
    assert by_name["Ingress"].replicas == 2 and by_name["Ingress"].gpu_class is None


def test_sampler_thread_samples_at_start_and_stop_and_survives_errors():
    calls = {"n": 0}

    def status_fn():
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("controller busy")
        return _status()

    sampler = ServeReplicaSampler({}, interval_s=0.01, app_name="cascade", status_fn=status_fn)
    sampler.start()
    import time

    time.sleep(0.1)
    timeline = sampler.stop()
    assert calls["n"] >= 3
    assert sampler.errors == ["RuntimeError: controller busy"]
    assert len(timeline) == 2 * (calls["n"] - 1)


def test_placement_from_cascade_uses_deployment_names():
    from cascade.config import parse_cascade

    config = parse_cascade(
        {"tiers": [{"name": "t0", "gpu_class": "T4",
                    "members": [{"model": "resnet20", "gpu_fraction": 0.5}]}]},
        check_models=False,
    )
    assert placement_from_cascade(config) == {"t0-resnet20": Placement("T4", 0.5)}


def test_a_colocated_first_tier_is_billed_to_the_ingress():
    from cascade.config import parse_cascade

    config = parse_cascade(
        {"tiers": [{"name": "t0", "gpu_class": "T4",
                    "members": [{"model": "resnet20"}, {"model": "cnn_a"}]},
                   {"name": "t1", "gpu_class": "L4", "members": [{"model": "resnet32"}]}],
         "ingress": {"colocate_first_tier": True}},
        check_models=False,
    )
    assert placement_from_cascade(config) == {
        "CascadeIngress": Placement("T4", 0.5),  # two members at the default 0.25
        "t1-resnet32": Placement("L4", 0.25),
    }


def test_whole_gpu_packing_first_fit_decreasing():
    from cost_model.provisioned import pack_whole_gpus

    # 0.5 + 0.5 share one GPU, 0.75 needs its own, 0.25 fits next to it: 2 T4s; one L4.
    assert pack_whole_gpus({"T4": [0.25, 0.5, 0.75, 0.5], "L4": [0.1]}) == {"T4": 2, "L4": 1}
    assert pack_whole_gpus({"T4": []}) == {"T4": 0}
    with pytest.raises(ValueError, match="more than one GPU"):
        pack_whole_gpus({"T4": [1.5]})


def test_whole_gpus_are_paid_in_full_next_to_the_fractional_cost():
    # Three quarter-GPU replicas on T4 for an hour: 0.75 GPU-hours fractional, 1 whole GPU.
    timeline = [_s(0, "d", 3, fraction=0.25)]
    cost = provisioned_cost(timeline, PriceTable(), t_start=0, t_end=3600)
    t4 = PriceTable().price("T4").usd_per_hour
    assert cost.usd == pytest.approx(0.75 * t4)
    assert cost.whole_gpu_usd == pytest.approx(1.0 * t4)
    assert cost.whole_gpus_peak_by_class == {"T4": 1}
    # Scaling to 5 replicas halfway through needs a second GPU for the second half hour.
    grown = provisioned_cost([_s(0, "d", 3, fraction=0.25), _s(1800, "d", 5, fraction=0.25)],
                             PriceTable(), t_start=0, t_end=3600)
    assert grown.whole_gpu_usd == pytest.approx(1.5 * t4)
