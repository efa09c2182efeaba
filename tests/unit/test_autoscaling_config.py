"""Autoscaling in the cascade config: validation names the field; mapping to Serve options."""

import pytest
from pydantic import ValidationError

from cascade.autoscaling import (
    effective_autoscaling,
    ingress_replica_options,
    replica_options,
)
from cascade.config import parse_cascade


def raw(tier_scaling=None, member_scaling=None):
    member = {"model": "resnet20", "replicas": 2}
    if member_scaling is not None:
        member["autoscaling"] = member_scaling
    tier = {"name": "t0", "gpu_class": "T4", "members": [member, {"model": "cnn_a"}]}
    if tier_scaling is not None:
        tier["autoscaling"] = tier_scaling
    return {"tiers": [tier, {"name": "t1", "gpu_class": "L4",
                             "members": [{"model": "resnet32"}]}]}


def errors(data) -> str:
    with pytest.raises(ValidationError) as info:
        parse_cascade(data, check_models=False)
    return str(info.value)


def test_min_above_max_names_the_field():
    text = errors(raw(tier_scaling={"min_replicas": 5, "max_replicas": 2}))
    assert "tiers.0.autoscaling" in text and "max_replicas" in text


def test_bad_member_value_names_the_member_field():
    text = errors(raw(member_scaling={"target_ongoing_requests": 0}))
    assert "tiers.0.members.0.autoscaling.target_ongoing_requests" in text


def test_unknown_key_is_rejected():
    text = errors(raw(tier_scaling={"max_replica": 3}))
    assert "tiers.0.autoscaling.max_replica" in text


def test_member_inherits_tier_and_overrides_it():
    config = parse_cascade(
        raw(tier_scaling={"max_replicas": 6}, member_scaling={"max_replicas": 3}),
        check_models=False)
    tier = config.tiers[0]
    assert effective_autoscaling(tier, tier.members[0]).max_replicas == 3
    assert effective_autoscaling(tier, tier.members[1]).max_replicas == 6
    assert effective_autoscaling(config.tiers[1], config.tiers[1].members[0]) is None


def test_serve_options_fixed_or_autoscaled():
    config = parse_cascade(
        raw(tier_scaling={"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 3,
                          "upscale_delay_s": 5, "downscale_delay_s": 60}),
        check_models=False)
    tier0, tier1 = config.tiers
    scaled = replica_options(tier0, tier0.members[0])
    assert scaled == {"autoscaling_config": {
        "min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 3.0,
        "upscale_delay_s": 5.0, "downscale_delay_s": 60.0, "initial_replicas": 2}}
    assert replica_options(tier1, tier1.members[0]) == {"num_replicas": 1}
    # the ingress is pinned (min = max) so Serve collects its counters for the app policy
    pinned = ingress_replica_options(config)["autoscaling_config"]
    assert pinned["min_replicas"] == pinned["max_replicas"] == 1


def test_no_autoscaling_keeps_fixed_ingress():
    config = parse_cascade(raw(), check_models=False)
    assert ingress_replica_options(config) == {"num_replicas": 1}


def test_config_round_trips_through_serve_autoscaling_config():
    from ray.serve.config import AutoscalingConfig as ServeAutoscalingConfig

    config = parse_cascade(raw(tier_scaling={"max_replicas": 4}), check_models=False)
    tier = config.tiers[0]
    options = replica_options(tier, tier.members[0])["autoscaling_config"]
    serve = ServeAutoscalingConfig(**options)
    assert serve.max_replicas == 4 and serve.initial_replicas == 2


def test_shipped_autoscale_config_autoscales_every_member():
    from pathlib import Path

    from cascade.config import load_cascade

    config = load_cascade(Path(__file__).resolve().parents[2] / "configs"
                          / "cifar10-coe-autoscale.yaml")
    assert not config.ingress.colocate_first_tier  # tier 0 members are their own deployments
    for tier in config.tiers:
        for member in tier.members:
            assert "autoscaling_config" in replica_options(tier, member)
