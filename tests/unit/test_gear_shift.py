"""Live load gears: the ingress's rate window picks the gear with the simulator's rule."""

import pytest
from pydantic import ValidationError

from cascade.config import parse_cascade
from cascade.gears import Gear, GearSet
from serve_app.gear_shift import GearShifter

GEARS = GearSet(gears=[Gear(name="accurate", thresholds=[1.0], max_rate_per_s=10.0),
                       Gear(name="fast", thresholds=[0.5], max_rate_per_s=1000.0)],
                hysteresis=0.2)


def test_the_rate_over_the_window_moves_up_at_once_and_down_only_below_the_hysteresis():
    shifter = GearShifter(GEARS, ["tier0", "tier1"], window_s=10.0)
    for k in range(20):  # 5 images/s: the accurate gear
        assert shifter.observe(k * 0.2) is False
    assert shifter.name == "accurate" and shifter.thresholds() == {"tier0": 1.0}
    t = 4.0
    for _ in range(40):  # 40 images/s for 1 s on top: above 10/s, the fast gear
        t += 0.025
        shifter.observe(t)
    assert shifter.name == "fast" and shifter.switches == 1
    assert shifter.thresholds() == {"tier0": 0.5}
    # 9 images/s is below the accurate gear's bound but not below (1 - 0.2) x 10: stays
    for _ in range(200):
        t += 1 / 9
        shifter.observe(t)
    assert shifter.name == "fast" and 8.5 < shifter.rate_per_s < 9.5
    for _ in range(100):  # 5 images/s: back to the accurate gear
        t += 0.2
        shifter.observe(t)
    assert shifter.name == "accurate" and shifter.switches == 2
    snapshot = shifter.snapshot()
    assert snapshot["active"] == "accurate" and snapshot["gears"] == ["accurate", "fast"]


def test_a_request_of_many_images_counts_every_image():
    shifter = GearShifter(GEARS, ["tier0", "tier1"], window_s=10.0)
    assert shifter.observe(0.0, images=64) is True  # 64 images in the first second
    assert shifter.name == "fast"


def raw_cascade(**extra):
    member = {"model": "resnet20"}
    return {"name": "g", "tiers": [
        {"name": "tier0", "gpu_class": "T4", "members": [member],
         "exit_policy": {"kind": "confidence", "threshold": 0.9}},
        {"name": "tier1", "gpu_class": "T4", "members": [{"model": "resnet32"}],
         "exit_policy": {"kind": "agreement", "threshold": 0.0}}], **extra}


def test_gears_in_the_config_are_validated_naming_the_field():
    gears = GEARS.model_dump()
    assert parse_cascade(raw_cascade(gears=gears), check_models=False).gears == GEARS
    gears["gears"][1]["thresholds"] = [0.5, 0.5]
    with pytest.raises(ValidationError, match=r"gears\.gears\.1\.thresholds"):
        parse_cascade(raw_cascade(gears=gears), check_models=False)
    gears["gears"][1]["max_rate_per_s"] = 5.0  # not increasing
    with pytest.raises(ValidationError, match="max_rate_per_s must increase"):
        parse_cascade(raw_cascade(gears=gears), check_models=False)


def test_a_config_without_gears_serialises_as_before():
    config = parse_cascade(raw_cascade(), check_models=False)
    assert "gears" not in config.model_dump()
