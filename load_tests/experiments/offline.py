"""Offline facts about a cascade config: accuracy and exit fractions on a whole split, and
per-member device time, from the planner's cached predictions and profiles.

Why: a live benchmark window sees a few hundred images; the offline replay uses the same
policy functions as the router (planner.simulate -> cascade.policies) on all 5,000 test
images, so reports can show both and replica sizing can use a stable exit distribution.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OfflineView(BaseModel):
    """A config replayed on one split, with its members' per-image device time."""

    model_config = ConfigDict(extra="forbid")

    config: str
    dataset: str
    split: str
    images: int
    accuracy: float
    exit_distribution: list[float]
    reach: list[float]
    device_ms_per_image: dict[str, float]  # "<tier>/<model>" -> ms on that tier's GPU class
    cpu_ms_per_image: dict[str, float]  # model -> ms on this CPU (1 thread) at the batch size
    batch_size: int
    expected_usd_per_1k: float
    emulated: bool


def offline_view(
    config_path: str, dataset: str = "cifar10-jpeg", split: str = "test", batch_size: int = 8,
    progress: bool = True,
) -> OfflineView:
    """Replay `config_path` on cached predictions of `dataset/split` and price it."""
    from cascade.config import load_cascade
    from load_tests.experiments.sizing import reach_fractions
    from planner.predictions import pool_probs
    from planner.profile import cost_table, profile_pool
    from planner.simulate import simulate, tiers_from_config

    config = load_cascade(config_path)
    tiers = tiers_from_config(config)
    models = list(dict.fromkeys(m for t in tiers for m in t.members))
    classes = sorted({t.gpu_class for t in tiers})
    profile = profile_pool(models, progress=progress)
    costs = cost_table(profile, classes, batch_size=batch_size)
    probs, labels = pool_probs(models, dataset, split, progress=progress)
    result = simulate(tiers, probs, labels, costs)
    cpu_ms = {}
    for name, member in profile.members.items():
        table = member.cpu_seconds_per_image
        nearest = min(table, key=lambda bs: (abs(bs - batch_size), bs))
        cpu_ms[name] = table[nearest] * 1000.0
    return OfflineView(
        config=config_path, dataset=dataset, split=split, images=int(labels.shape[0]),
        accuracy=result.accuracy, exit_distribution=list(result.exit_distribution),
        reach=reach_fractions(result.exit_distribution),
        device_ms_per_image={
            f"{t.name}/{m.model}": costs.member_ms(m.model, t.gpu_class)
            for t in config.tiers for m in t.members
        },
        cpu_ms_per_image=cpu_ms, batch_size=batch_size,
        expected_usd_per_1k=result.usd_per_1k, emulated=costs.emulated,
    )
