"""Replica sizing for a target load: how many replicas each member needs, and what they cost.

Why: provisioned dollars depend on replica counts, and a fair heterogeneous comparison sizes
both systems for the same offered load. The rule (documented in docs/BENCHMARKS.md):

    reach(tier i)        = fraction of requests that reach tier i
                           (1 - sum of the exit fractions of the tiers before it)
    replica capacity     = gpu_fraction / device_seconds_per_image   [images/s]
                           (a replica holding a fraction f of a GPU gets f of its time)
    replicas(member)     = max(min_replicas,
                               ceil(offered_rps * reach / (capacity * target_utilisation)))
    provisioned $/hour   = sum replicas * gpu_fraction * price_per_gpu_hour
    provisioned $/1k     = $/hour / (offered_rps * 3600) * 1000

Pure arithmetic; the inputs (device seconds, exit fractions) come from measurements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field


def reach_fractions(exit_distribution: Sequence[float]) -> list[float]:
    """Fraction of requests reaching each tier, from the fraction answered by each tier."""
    if not exit_distribution:
        raise ValueError("exit_distribution is empty")
    total = float(sum(exit_distribution))
    if any(f < 0 for f in exit_distribution) or not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(f"exit fractions must be >= 0 and sum to 1, got {list(exit_distribution)}")
    reach, left = [], 1.0
    for fraction in exit_distribution:
        reach.append(max(left, 0.0))
        left -= fraction
    return reach


def replica_capacity_rps(device_seconds_per_image: float, gpu_fraction: float) -> float:
    """Images/s one replica can serve when it gets `gpu_fraction` of the GPU's time."""
    if device_seconds_per_image <= 0 or gpu_fraction <= 0:
        raise ValueError("device_seconds_per_image and gpu_fraction must be > 0")
    return gpu_fraction / device_seconds_per_image


def replicas_needed(
    offered_rps: float, reach: float, capacity_rps: float, target_utilisation: float = 0.7,
    min_replicas: int = 1,
) -> int:
    """Replicas so the member runs at <= target_utilisation at the offered load."""
    if offered_rps < 0 or not 0 <= reach <= 1 or capacity_rps <= 0:
        raise ValueError(f"bad sizing input: rps={offered_rps}, reach={reach}, "
                         f"capacity={capacity_rps}")
    if not 0 < target_utilisation <= 1:
        raise ValueError(f"target_utilisation must be in (0, 1], got {target_utilisation}")
    load = offered_rps * reach
    return max(min_replicas, math.ceil(load / (capacity_rps * target_utilisation) - 1e-9))


class MemberSizing(BaseModel):
    """One member's inputs and the replica count and cost that follow."""

    model_config = ConfigDict(extra="forbid")

    tier: str
    model: str
    gpu_class: str
    gpu_fraction: float
    device_ms_per_image: float
    reach: float
    capacity_rps_per_replica: float
    replicas: int
    utilisation: float = Field(description="offered images/s / (replicas * capacity)")
    usd_per_hour: float


class SystemSizing(BaseModel):
    """A whole system (cascade or baseline) sized for one offered load."""

    model_config = ConfigDict(extra="forbid")

    name: str
    offered_rps: float
    members: list[MemberSizing]
    usd_per_hour: float
    provisioned_usd_per_1k: float
    attributed_usd_per_1k: float = Field(
        description="expected device time priced per image (what a perfectly packed "
        "fleet would cost)"
    )
    gpus_by_class: dict[str, float]


def size_system(
    name: str,
    offered_rps: float,
    members: Sequence[dict],
    target_utilisation: float = 0.7,
    min_replicas: int = 1,
) -> SystemSizing:
    """Size every member; each dict has tier, model, gpu_class, gpu_fraction,
    device_ms_per_image, reach and usd_per_gpu_hour."""
    if offered_rps <= 0:
        raise ValueError(f"offered_rps must be > 0, got {offered_rps}")
    sized, attributed_per_image, gpus = [], 0.0, {}
    for m in members:
        capacity = replica_capacity_rps(m["device_ms_per_image"] / 1000.0, m["gpu_fraction"])
        replicas = replicas_needed(offered_rps, m["reach"], capacity, target_utilisation,
                                   min_replicas)
        usd_hour = replicas * m["gpu_fraction"] * m["usd_per_gpu_hour"]
        sized.append(MemberSizing(
            tier=m["tier"], model=m["model"], gpu_class=m["gpu_class"],
            gpu_fraction=m["gpu_fraction"], device_ms_per_image=m["device_ms_per_image"],
            reach=m["reach"], capacity_rps_per_replica=capacity, replicas=replicas,
            utilisation=offered_rps * m["reach"] / (replicas * capacity), usd_per_hour=usd_hour,
        ))
        attributed_per_image += (
            m["reach"] * m["device_ms_per_image"] / 1000.0 * m["usd_per_gpu_hour"] / 3600.0
        )
        gpus[m["gpu_class"]] = gpus.get(m["gpu_class"], 0.0) + replicas * m["gpu_fraction"]
    usd_per_hour = sum(s.usd_per_hour for s in sized)
    return SystemSizing(
        name=name, offered_rps=offered_rps, members=sized, usd_per_hour=usd_per_hour,
        provisioned_usd_per_1k=usd_per_hour / (offered_rps * 3600.0) * 1000.0,
        attributed_usd_per_1k=attributed_per_image * 1000.0, gpus_by_class=gpus,
    )
