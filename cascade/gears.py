"""Load gears: precomputed exit thresholds, switched by load with hysteresis.

Why (CascadeServe, arXiv 2406.14424): a stricter exit threshold escalates more and is more
accurate; at peak load the escalated traffic is what needs the most capacity. A gear is a
set of exit thresholds (the same models) with the load range it serves; the ingress moves
to a cheaper gear when the load passes the gear's upper rate, and back only once the load
is `hysteresis` below that bound, so a burst does not make it flap.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Gear(BaseModel):
    """Exit thresholds per tier (all but the last), used up to `max_rate_per_s`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    thresholds: list[float] = Field(description="exit threshold of tier 0..n-2")
    max_rate_per_s: float = Field(gt=0, description="highest ingress rate this gear serves")
    expected_reach: list[float] = Field(default_factory=list, description="per tier, planned")
    accuracy: float | None = None


class GearSet(BaseModel):
    """Gears ordered from the most accurate (lowest load) to the cheapest (highest load)."""

    model_config = ConfigDict(extra="forbid")

    gears: list[Gear] = Field(min_length=1)
    hysteresis: float = Field(default=0.15, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> GearSet:
        rates = [g.max_rate_per_s for g in self.gears]
        if rates != sorted(rates):
            raise ValueError("gears: max_rate_per_s must increase from the first gear to the last")
        return self


def select_gear(rate_per_s: float, current: int, gears: Sequence[Gear], hysteresis: float) -> int:
    """Index of the gear to run at `rate_per_s`, starting from gear `current`.

    Up (cheaper) as soon as the rate exceeds the current gear's bound; down (more accurate)
    only when the rate is below (1 - hysteresis) x the lower gear's bound.
    """
    if not gears:
        raise ValueError("no gears")
    index = min(max(current, 0), len(gears) - 1)
    while index < len(gears) - 1 and rate_per_s > gears[index].max_rate_per_s:
        index += 1
    while index > 0 and rate_per_s < (1.0 - hysteresis) * gears[index - 1].max_rate_per_s:
        index -= 1
    return index
