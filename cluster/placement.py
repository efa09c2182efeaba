"""Placement: turn "this member runs on GPU class X" into Ray Serve `ray_actor_options`.

Members ask for a fraction of a GPU and for the `accelerator_type:<X>` resource that nodes
of class X advertise, so Ray puts each tier on its own GPU class. The resource form is the
one Ray itself produces for `accelerator_type=...` (0.001 of `accelerator_type:<X>`), written
out explicitly so it reads the same in a Serve config YAML and works with the logical GPUs of
an emulated cluster. The ingress is CPU-only and may be pinned to the head.
"""

from __future__ import annotations

from cost_model.catalog import GPUCatalog, load_catalog

# Ray's own encoding of `accelerator_type=X` (ray._common.utils.resources_from_ray_options).
ACCELERATOR_RESOURCE_AMOUNT = 0.001
# Custom resource that the head of a `coe cluster up` cluster advertises (see local.py).
HEAD_RESOURCE = "coe_head"
HEAD_RESOURCE_AMOUNT = 0.001
# Members mostly wait on the (emulated) GPU; a small CPU share lets many replicas share a
# node. Ray gives a fractional-CPU actor OMP_NUM_THREADS=1, which suits small CNNs on CPU.
DEFAULT_MEMBER_NUM_CPUS = 0.25
DEFAULT_INGRESS_NUM_CPUS = 0.5


def accelerator_resource(gpu_class: str, catalog: GPUCatalog | None = None) -> str:
    """`accelerator_type:<X>` for a catalog GPU class (raises KeyError naming known classes)."""
    catalog = catalog or load_catalog()
    return catalog.get(gpu_class).resource_name


def ray_actor_options_for(
    gpu_class: str,
    gpu_fraction: float,
    catalog: GPUCatalog | None = None,
    num_cpus: float = DEFAULT_MEMBER_NUM_CPUS,
) -> dict:
    """`ray_actor_options` placing one member replica on `gpu_fraction` of a `gpu_class` GPU.

    Like Ray, a replica takes a fraction of one GPU or a whole number of GPUs.
    """
    if not (0 < gpu_fraction <= 1 or (gpu_fraction > 1 and float(gpu_fraction).is_integer())):
        raise ValueError(
            f"gpu_fraction must be in (0, 1] or a whole number of GPUs, got {gpu_fraction}"
        )
    if num_cpus < 0:
        raise ValueError(f"num_cpus must be >= 0, got {num_cpus}")
    return {
        "num_gpus": float(gpu_fraction),
        "num_cpus": float(num_cpus),
        "resources": {accelerator_resource(gpu_class, catalog): ACCELERATOR_RESOURCE_AMOUNT},
    }


def ingress_actor_options(
    pin_to_head: bool = False, num_cpus: float = DEFAULT_INGRESS_NUM_CPUS
) -> dict:
    """CPU-only options for the ingress; `pin_to_head` needs a `coe cluster up` cluster.

    Pinning is opt-in because a plain `ray.init()` cluster (tests, a user's own cluster)
    has no `coe_head` resource and the replica would wait forever; use
    `head_pinning_available()` to decide at deploy time.
    """
    if num_cpus < 0:
        raise ValueError(f"num_cpus must be >= 0, got {num_cpus}")
    options: dict = {"num_cpus": float(num_cpus), "num_gpus": 0.0}
    if pin_to_head:
        options["resources"] = {HEAD_RESOURCE: HEAD_RESOURCE_AMOUNT}
    return options


def head_pinning_available() -> bool:
    """True when the connected Ray cluster advertises the head resource (needs ray.init)."""
    import ray

    return HEAD_RESOURCE in ray.cluster_resources()


def device_for_replica() -> str:
    """ "cuda" where this process sees a CUDA device (real GPU node), else "cpu" (emulation)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
