"""Placement options per GPU class: the resource Ray itself uses for accelerator_type."""

from __future__ import annotations

import pytest

from cluster.placement import (
    HEAD_RESOURCE,
    accelerator_resource,
    ingress_actor_options,
    ray_actor_options_for,
)
from cost_model.catalog import load_catalog

CATALOG = load_catalog()


@pytest.mark.parametrize("gpu_class", sorted(CATALOG.classes))
def test_member_options_for_every_catalog_class(gpu_class):
    options = ray_actor_options_for(gpu_class, 0.25, CATALOG)
    accelerator = CATALOG.classes[gpu_class].accelerator_type
    assert options["num_gpus"] == 0.25
    assert 0 < options["num_cpus"] < 1
    assert options["resources"] == {f"accelerator_type:{accelerator}": 0.001}


def test_matches_rays_own_accelerator_type_encoding():
    from ray._common.utils import resources_from_ray_options

    ours = ray_actor_options_for("A100-40GB", 0.5, CATALOG)
    rays = resources_from_ray_options(
        {"num_gpus": 0.5, "num_cpus": ours["num_cpus"], "accelerator_type": "A100-40G"}
    )
    assert resources_from_ray_options(ours) == rays


def test_whole_gpus_and_custom_cpus():
    options = ray_actor_options_for("H100", 2, CATALOG, num_cpus=1)
    assert options["num_gpus"] == 2.0 and options["num_cpus"] == 1.0


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5])
def test_bad_gpu_fraction(fraction):
    with pytest.raises(ValueError, match="gpu_fraction"):
        ray_actor_options_for("T4", fraction, CATALOG)


def test_unknown_class_lists_known_ones():
    with pytest.raises(KeyError, match="known classes: .*T4"):
        accelerator_resource("TPU", CATALOG)


def test_ingress_is_cpu_only_and_pins_only_on_request():
    plain = ingress_actor_options()
    assert plain["num_gpus"] == 0 and plain["num_cpus"] > 0 and "resources" not in plain
    pinned = ingress_actor_options(pin_to_head=True)
    assert pinned["resources"] == {HEAD_RESOURCE: 0.001}


def test_colocated_ingress_takes_the_first_tiers_class_and_gpu_share():
    from cascade.config import parse_cascade
    from serve_app.app import BuildArgs, colocated_ingress_options

    def tier0(fractions):
        members = [{"model": "resnet20", "name": f"m{i}", "gpu_fraction": f}
                   for i, f in enumerate(fractions)]
        raw = {"tiers": [{"name": "t0", "gpu_class": "L4", "members": members}],
               "ingress": {"colocate_first_tier": True}}
        return parse_cascade(raw, check_models=False).tiers[0]

    args = BuildArgs(config={}, ingress_num_cpus=0.5, member_num_cpus=0.25)
    options = colocated_ingress_options(tier0([0.25, 0.5]), load_catalog(), args)
    assert options["num_gpus"] == pytest.approx(0.75)
    assert options["num_cpus"] == pytest.approx(1.0)
    assert list(options["resources"]) == ["accelerator_type:L4"]
    # more than one GPU in all: whole GPUs, as Ray requires
    assert colocated_ingress_options(tier0([0.75, 0.5]), load_catalog(), args)["num_gpus"] == 2
