"""Replica counts per phase of the live step run (the figure the simulator is checked on)."""

import pytest

from cost_model.provisioned import ReplicaSample
from load_tests.experiments.autoscale_live import replicas_by_phase


def sample(t, n, name="t0-a"):
    return ReplicaSample(t=t, deployment=name, replicas=n, gpu_class="L4", gpu_fraction=0.25)


def test_second_half_of_each_phase_is_averaged():
    timeline = [sample(t, 1) for t in range(0, 60)]
    timeline += [sample(t, 1 if t < 90 else 3) for t in range(60, 120)]
    timeline += [sample(t, 3 if t < 150 else 2) for t in range(120, 180)]
    phases = replicas_by_phase(timeline, 0.0, 60.0)
    assert phases["low"] == {"t0-a": 1.0}
    assert phases["high"] == {"t0-a": 3.0}
    assert phases["low_again"]["t0-a"] == pytest.approx(2.0)
