"""Turn planned tiers into a CascadeConfig that `coe serve deploy` and the demo run unchanged."""

from __future__ import annotations

from collections.abc import Sequence

from cascade.config import CascadeConfig, parse_cascade
from planner.simulate import TierSpec


def to_cascade_config(
    tiers: Sequence[TierSpec],
    name: str = "planned-cascade",
    class_names: Sequence[str] | None = None,
    num_classes: int = 10,
    max_batch_size: int = 8,
    check_models: bool = True,
    colocate_first_tier: bool = True,
    budget: dict | None = None,
) -> CascadeConfig:
    """Last tier gets threshold 0.0: it always answers, whatever the router's policy code.

    The first tier runs inside the ingress by default (most images exit there, so most
    requests then make no inter-deployment call; see docs/BENCHMARKS.md section 3).
    """
    raw_tiers = []
    for index, tier in enumerate(tiers):
        last = index == len(tiers) - 1
        raw_tiers.append(
            {
                "name": f"tier{index}",
                "gpu_class": tier.gpu_class,
                "exit_policy": _policy(tier, last),
                "combine": tier.combine,
                "members": [{"model": m, "max_batch_size": max_batch_size} for m in tier.members],
            }
        )
    raw = {"name": name, "num_classes": num_classes, "tiers": raw_tiers,
           "ingress": {"colocate_first_tier": colocate_first_tier}}
    if budget is not None:
        raw["budget"] = dict(budget)
    if class_names is not None:
        raw["class_names"] = list(class_names)
        raw["num_classes"] = len(class_names)
    return parse_cascade(raw, check_models=check_models)


def _policy(tier: TierSpec, last: bool) -> dict:
    """A tier's exit policy; a learned tier carries its scheduler inline."""
    policy = {"kind": tier.policy, "threshold": 0.0 if last else tier.threshold}
    if tier.scheduler is not None and not last:
        policy["scheduler"] = tier.scheduler.to_dict()
    return policy
