"""Does each learned tier's scheduler read exactly the features its cascade position gives?

A scheduler is trained for one cascade: its own members, and every earlier tier's
members in order. Change a member and the inputs no longer mean what the weights
expect, so the config is refused, naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence

from cascade.learned import scheduler_feature_names


def check_scheduler_features(tiers: Sequence) -> None:
    """Raise ValueError naming `tiers.<i>.exit_policy.scheduler.features` on a mismatch."""
    members = [[m.member_name for m in tier.members] for tier in tiers]
    for index, tier in enumerate(tiers):
        scheduler = tier.exit_policy.scheduler
        if scheduler is None:
            continue
        expected = scheduler_feature_names(members[: index + 1])
        given = list(scheduler.build().features)
        if given != expected:
            wrong = next((f"{g!r} (expected {e!r})" for g, e in zip(given, expected, strict=False)
                          if g != e), f"{len(given)} features (expected {len(expected)})")
            raise ValueError(
                f"tiers.{index}.exit_policy.scheduler.features: feature mismatch with the "
                f"tier's position in the cascade: {wrong}"
            )
