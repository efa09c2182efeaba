"""From a cascade config to what the sizing policy and the simulator need.

Device times per batch come from the planner's profiles through the catalog's device model
(EMULATED on a CPU-only machine; measured when a GPU profile is given); escalation comes
from the cached per-image predictions replayed through the router's exit-policy code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cascade.autoscale_policy import MemberLoadModel
from cascade.autoscaling import AutoscalingConfig, effective_autoscaling, policy_timing
from cascade.config import CascadeConfig
from planner.cluster_sim import GearBehaviour, SimMember
from planner.costs import CostTable
from planner.simulate import TierSpec, simulate, tiers_from_config


@dataclass(frozen=True)
class CascadeModels:
    """Everything derived from the config, the profiles and the prediction cache."""

    tiers: list[TierSpec]
    members: list[SimMember]
    costs: CostTable
    calibration: tuple[dict[str, np.ndarray], np.ndarray]
    test: tuple[dict[str, np.ndarray], np.ndarray]
    emulated: bool

    @property
    def load_models(self) -> list[MemberLoadModel]:
        return [m.load for m in self.members]

    def by_tier(self) -> list[list[SimMember]]:
        out: list[list[SimMember]] = [[] for _ in self.tiers]
        for member in self.members:
            out[member.load.tier].append(member)
        return out


def load_models(
    config: CascadeConfig, host_seconds_per_request: float, *, max_replicas: int | None = None,
    dataset: str = "cifar10-jpeg", progress: bool = False, time_source: str = "device",
) -> CascadeModels:
    """Profile the members (cached), price them on their tier's class, load predictions.

    `time_source="device"`: a call takes its device time on the tier's class (EMULATED from
    the device model on a CPU-only machine). `"cpu"`: the measured CPU time of the call on
    this machine (1 torch thread), which is what a live replica here actually spends.
    """
    from planner.costs import at_batch
    from planner.predictions import pool_probs
    from planner.profile import cost_table, profile_pool

    models = sorted({m.model for t in config.tiers for m in t.members})
    profile = profile_pool(models, progress=progress)
    classes = sorted({t.gpu_class for t in config.tiers})
    biggest = max(m.max_batch_size for t in config.tiers for m in t.members)
    costs = cost_table(profile, classes, biggest)
    members = []
    for index, tier in enumerate(config.tiers):
        for member in tier.members:
            scaling = effective_autoscaling(tier, member) or AutoscalingConfig(
                min_replicas=member.replicas, max_replicas=max(member.replicas, 8))
            if time_source == "cpu":
                table = profile.members[member.model].cpu_seconds_per_image
                calls = tuple(at_batch(table, b) * b for b in range(1, member.max_batch_size + 1))
            else:
                calls = tuple(costs.call_ms(member.model, tier.gpu_class, b) / 1000.0
                              for b in range(1, member.max_batch_size + 1))
            load = MemberLoadModel(
                deployment=config.deployment_name(tier, member), tier=index, call_seconds=calls,
                batch_wait_timeout_s=member.batch_wait_timeout_s,
                host_seconds_per_request=host_seconds_per_request,
                min_replicas=scaling.min_replicas,
                max_replicas=max_replicas or scaling.max_replicas,
            )
            members.append(SimMember(load, tier.gpu_class, member.gpu_fraction,
                                     member.max_ongoing_requests + member.max_queued_requests))
    calibration = pool_probs(models, dataset, "calibration", progress=progress)
    test = pool_probs(models, dataset, "test", progress=progress)
    return CascadeModels(tiers_from_config(config), members, costs, calibration, test,
                         costs.emulated)


def with_host_seconds(models: CascadeModels, host_seconds_per_request: float) -> CascadeModels:
    """The same models with another per-request host time in every member's load model
    (e.g. a figure measured on the live deployment instead of an assumed one)."""
    members = [replace(m, load=replace(m.load, host_seconds_per_request=host_seconds_per_request))
               for m in models.members]
    return replace(models, members=members)


def hard_classes(models: CascadeModels, count: int = 3) -> list[int]:
    """The classes whose images escalate past tier 0 most often (on the test split)."""
    probs, labels = models.test
    result = simulate(models.tiers, probs, labels, models.costs)
    rates = [float((result.exit_tier[labels == c] > 0).mean()) for c in np.unique(labels)]
    return [int(c) for c in np.argsort(rates)[::-1][:count]]


def gear_behaviour(models: CascadeModels, thresholds: list[float],
                   hard: list[int]) -> GearBehaviour:
    """Reach and accuracy on the test split (all images, and the hard classes alone)."""
    probs, labels = models.test
    tiers = [replace(t, threshold=thresholds[i]) if i < len(thresholds) else t
             for i, t in enumerate(models.tiers)]
    mask = np.isin(labels, hard)
    full = simulate(tiers, probs, labels, models.costs)
    hard_probs = {k: v[mask] for k, v in probs.items()}
    sub = simulate(tiers, hard_probs, labels[mask], models.costs)
    return GearBehaviour(tuple(full.tier_reach), tuple(sub.tier_reach), full.accuracy,
                         sub.accuracy)


def gear_weights(models: CascadeModels) -> dict[str, float]:
    """Weight of one replica of each member in a capacity budget: GPU share x $/s."""
    from cost_model.prices import PriceTable

    prices = PriceTable()
    return {m.load.deployment: m.gpu_fraction * prices.price(m.gpu_class).usd_per_second
            for m in models.members}


APP_POLICY = "serve_app.autoscale_policy:EscalationAwareAppPolicy"


def app_policy_block(config: CascadeConfig, models: CascadeModels, headroom: float) -> dict:
    """A Serve application's `autoscaling_policy`: the escalation-aware policy with this
    cascade's load models (the same the simulator sizes with)."""
    members = [
        {"deployment": m.load.deployment, "tier": m.load.tier,
         "call_seconds": list(m.load.call_seconds),
         "batch_wait_timeout_s": m.load.batch_wait_timeout_s,
         "host_seconds_per_request": m.load.host_seconds_per_request,
         "min_replicas": m.load.min_replicas, "max_replicas": m.load.max_replicas}
        for m in models.members
        if not (config.ingress.colocate_first_tier and m.load.tier == 0)
    ]
    return {"policy_function": APP_POLICY,
            "policy_kwargs": {"members": members, "tiers": len(config.tiers),
                              "headroom": headroom, **policy_timing()}}
