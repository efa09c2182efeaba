"""`coe chaos` flags -> ChaosOptions (no Ray: the run itself is not started)."""

import pytest

from coe.cli import build_parser
from coe.cli_chaos import chaos_options


def options_for(*argv):
    return chaos_options(build_parser().parse_args(["chaos", *argv]))


def test_the_soak_measures_capacity_for_30_seconds_by_default():
    options = options_for("--soak", "20m")
    assert options.soak_seconds == 1200
    assert options.soak_capacity_seconds == 30.0
    assert options.capacity_seconds == 8.0  # the phases keep their short measurement


def test_the_soak_capacity_measurement_can_be_set_and_must_be_positive():
    assert options_for("--soak", "5m", "--soak-capacity-seconds", "12").soak_capacity_seconds == 12
    with pytest.raises(ValueError, match="--soak-capacity-seconds"):
        options_for("--soak", "5m", "--soak-capacity-seconds", "0")
