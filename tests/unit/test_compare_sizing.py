"""Replica sizing arithmetic, checked by hand."""

from __future__ import annotations

import math

import pytest

from load_tests.experiments.sizing import (
    reach_fractions,
    replica_capacity_rps,
    replicas_needed,
    size_system,
)


def test_reach_fractions_from_exit_distribution():
    assert reach_fractions([0.7, 0.2, 0.1]) == pytest.approx([1.0, 0.3, 0.1])
    assert reach_fractions([1.0]) == [1.0]
    with pytest.raises(ValueError):
        reach_fractions([0.5, 0.4])
    with pytest.raises(ValueError):
        reach_fractions([])


def test_replica_capacity_is_fraction_over_device_time():
    # 2 ms per image on a whole GPU = 500 img/s; a quarter of the GPU = 125 img/s
    assert replica_capacity_rps(0.002, 0.25) == pytest.approx(125.0)


def test_replicas_needed_rounds_up_and_keeps_a_minimum():
    # 1000 req/s, 30 % reach -> 300 img/s; 125 img/s per replica at 70 % -> 87.5 -> 4 replicas
    assert replicas_needed(1000, 0.3, 125.0, 0.7) == 4
    assert replicas_needed(1, 0.3, 125.0, 0.7) == 1
    assert replicas_needed(0, 0.0, 125.0, 0.7, min_replicas=2) == 2
    # exactly at capacity needs no extra replica
    assert replicas_needed(87.5, 1.0, 125.0, 0.7) == 1
    with pytest.raises(ValueError):
        replicas_needed(10, 1.5, 125.0)
    with pytest.raises(ValueError):
        replicas_needed(10, 1.0, 125.0, target_utilisation=0)


def test_size_system_by_hand():
    members = [
        dict(tier="t0", model="small", gpu_class="T4", gpu_fraction=0.25,
             device_ms_per_image=2.0, reach=1.0, usd_per_gpu_hour=0.5),
        dict(tier="t1", model="big", gpu_class="A100", gpu_fraction=0.5,
             device_ms_per_image=1.0, reach=0.2, usd_per_gpu_hour=4.0),
    ]
    sized = size_system("casc", 500.0, members, target_utilisation=0.5)
    small, big = sized.members
    # small: 500 img/s / (125 * 0.5) = 8 replicas; big: 100 img/s / (500 * 0.5) = 0.4 -> 1
    assert (small.replicas, big.replicas) == (8, 1)
    assert small.utilisation == pytest.approx(500 / (8 * 125))
    assert big.utilisation == pytest.approx(100 / 500)
    usd_hour = 8 * 0.25 * 0.5 + 1 * 0.5 * 4.0
    assert sized.usd_per_hour == pytest.approx(usd_hour)
    assert sized.provisioned_usd_per_1k == pytest.approx(usd_hour / (500 * 3600) * 1000)
    per_image = 1.0 * 0.002 * 0.5 / 3600 + 0.2 * 0.001 * 4.0 / 3600
    assert sized.attributed_usd_per_1k == pytest.approx(per_image * 1000)
    assert sized.gpus_by_class == {"T4": 2.0, "A100": 0.5}
    assert sized.provisioned_usd_per_1k >= sized.attributed_usd_per_1k


def test_provisioned_approaches_attributed_over_utilisation_at_high_load():
    members = [dict(tier="t", model="m", gpu_class="T4", gpu_fraction=0.25,
                    device_ms_per_image=2.0, reach=1.0, usd_per_gpu_hour=0.5)]
    sized = size_system("one", 1e6, members, target_utilisation=0.8)
    assert math.isclose(sized.provisioned_usd_per_1k, sized.attributed_usd_per_1k / 0.8,
                        rel_tol=1e-3)
