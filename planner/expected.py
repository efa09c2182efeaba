"""What a deployed cascade config should cost at a request rate: the plan's prediction.

Why: the demo and `coe bench compare` hold the live bill against this figure, so a plan's
price can be checked. Same profile, same device model, same batching model and same
simulator as `coe plan`; only the tiers come from a config instead of a search.
"""

from __future__ import annotations

from cascade.config import CascadeConfig
from planner.costs import Batching, CostTable
from planner.simulate import SimResult, simulate, tiers_from_config


def config_cost_table(
    config: CascadeConfig, rate_per_s: float, progress: bool = False
) -> CostTable:
    """Profiled, emulated costs of the config's members at `rate_per_s` (cached profiles)."""
    from planner.profile import cost_table, profile_pool

    members = [m for tier in config.tiers for m in tier.members]
    models = list(dict.fromkeys(m.model for m in members))
    classes = list(dict.fromkeys(t.gpu_class for t in config.tiers))
    max_batch = max(m.max_batch_size for m in members)
    wait_s = max(m.batch_wait_timeout_s for m in members)
    return cost_table(
        profile_pool(models, progress=progress), classes, max_batch,
        batching=Batching(rate_per_s, max_batch, wait_s),
    )


def expected_cost(
    config: CascadeConfig, dataset: str, split: str, rate_per_s: float, progress: bool = False
) -> SimResult:
    """The config replayed offline on `split`, priced at the batches `rate_per_s` produces."""
    from planner.predictions import pool_probs

    costs = config_cost_table(config, rate_per_s, progress)
    tiers = tiers_from_config(config)
    models = list(dict.fromkeys(m for t in tiers for m in t.members))
    probs, labels = pool_probs(models, dataset, split, progress)
    return simulate(tiers, probs, labels, costs)
