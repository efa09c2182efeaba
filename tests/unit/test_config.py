"""Cascade config validation: every error names the field; the shipped configs load."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from cascade.config import dump_cascade, load_cascade, parse_cascade
from cost_model.catalog import load_catalog
from zoo.small_cnns import SMALL_CNNS

REPO = Path(__file__).resolve().parents[2]


def cascade(**overrides):
    raw = {
        "name": "t",
        "tiers": [
            {"name": "small", "gpu_class": "T4", "members": [{"model": "resnet20"}]},
            {"name": "large", "gpu_class": "A100-40GB", "members": [{"model": "resnet56"}]},
        ],
    }
    raw.update(overrides)
    return raw


def error_text(raw, **kwargs) -> str:
    with pytest.raises(ValidationError) as info:
        parse_cascade(raw, **kwargs)
    return str(info.value)


def test_unknown_gpu_class_names_field_and_known_classes():
    raw = cascade()
    raw["tiers"][0]["gpu_class"] = "V100"
    text = error_text(raw)
    assert "tiers.0.gpu_class" in text
    assert "unknown GPU class 'V100'" in text and "T4" in text


def test_health_check_period_and_door_settings_are_validated_by_name():
    raw = cascade()
    raw["tiers"][0]["members"][0]["health_check_period_s"] = 0
    assert "tiers.0.members.0.health_check_period_s" in error_text(raw)
    assert "ingress.door_follows_replicas" in error_text(
        cascade(ingress={"door_follows_replicas": "sometimes"}))
    parsed = parse_cascade(cascade())
    assert parsed.tiers[0].members[0].health_check_period_s is None  # Serve's default
    assert parsed.ingress.door_follows_replicas is False  # opt-in


def test_duplicate_member_names_in_a_tier():
    raw = cascade()
    raw["tiers"][0]["members"] = [{"model": "resnet20"}, {"model": "resnet20"}]
    text = error_text(raw)
    assert "tiers.0.members" in text and "duplicate member names" in text


def test_duplicate_tier_names():
    raw = cascade()
    raw["tiers"][1]["name"] = "small"
    assert "duplicate tier names: small" in error_text(raw)


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_threshold_outside_unit_interval(threshold):
    raw = cascade()
    raw["tiers"][0]["exit_policy"] = {"kind": "agreement", "threshold": threshold}
    assert "tiers.0.exit_policy.threshold" in error_text(raw)


def test_empty_tier_and_no_tiers():
    raw = cascade()
    raw["tiers"][1]["members"] = []
    text = error_text(raw)
    assert "tiers.1.members" in text and "at least one member" in text
    assert "tiers" in error_text(cascade(tiers=[]))


def test_unknown_model_names_field_and_lists_known_models():
    raw = cascade()
    raw["tiers"][1]["members"] = [{"model": "resnet9000"}]
    text = error_text(raw)
    assert "tiers.1.members.0.model" in text
    assert "resnet9000" in text and "resnet56" in text


def test_unknown_model_is_accepted_when_model_check_is_off():
    raw = cascade()
    raw["tiers"][1]["members"] = [{"model": "resnet9000"}]
    assert parse_cascade(raw, check_models=False).tiers[1].members[0].model == "resnet9000"


def test_unknown_key_is_rejected_by_name():
    raw = cascade()
    raw["tiers"][0]["gpu"] = "T4"
    assert "tiers.0.gpu" in error_text(raw)


def test_class_names_must_match_num_classes():
    assert "class_names" in error_text(cascade(class_names=["a", "b"]))


@pytest.mark.parametrize(
    "name", ["cifar10-coe.yaml", "cifar10-coe-handset.yaml", "cifar10-single-best.yaml",
             "cifar10-coe-collage.yaml"]
)
def test_shipped_configs_load_and_round_trip(name, tmp_path):
    config = load_cascade(REPO / "configs" / name)
    assert config.class_names[0] == "airplane" and config.num_classes == 10
    dump_cascade(config, tmp_path / name)
    assert load_cascade(tmp_path / name) == config


def test_handset_config_places_tiers_on_their_gpu_classes():
    config = load_cascade(REPO / "configs" / "cifar10-coe-handset.yaml")
    assert [t.gpu_class for t in config.tiers] == ["T4", "L4", "A100-40GB"]
    assert [m.model for m in config.tiers[0].members] == ["cnn_a", "cnn_b", "cnn_c"]
    assert [m.model for m in config.tiers[2].members] == ["resnet56"]


def test_default_config_is_a_cascade_that_starts_cheap():
    config = load_cascade(REPO / "configs" / "cifar10-coe.yaml")
    assert len(config.tiers) >= 2
    # Tier classes are the planner's choice (cheapest per tier); the first never sits on a
    # dearer class than the last.
    catalog = load_catalog()
    first, last = (catalog.get(t.gpu_class) for t in (config.tiers[0], config.tiers[-1]))
    assert first.price_per_hour_usd <= last.price_per_hour_usd
    # `coe plan` picks the family (agreement, confidence) whose plan is cheapest and holds;
    # either way the first tier is the cheap tier: the project's own small CNNs only.
    assert config.tiers[0].exit_policy.kind in ("agreement", "confidence")
    assert {m.model for m in config.tiers[0].members} <= set(SMALL_CNNS)
