"""Online budget keeper: hold a learned cascade's average cost per image at B.

Why: thresholds set on calibration spend B only while the input mix looks like
calibration. When the share of hard images rises, more images escalate and the realised
cost drifts up. The keeper watches the realised cost per image over a sliding window and,
every `update_every` images, moves ONE offset (in logits) added to every learned tier's
threshold: lower thresholds let more images exit early. The offset is bounded, so the
accuracy given up to hold the budget is bounded too.

Pure Python + numpy (no Ray): the ingress feeds it live outcomes, and the offline shifted-
stream experiment (load_tests.experiments.budget_stream) feeds it simulated ones.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, Field

from cascade.learned import shifted_threshold
from cascade.learned_config import BudgetConfig, KeeperConfig


class BudgetStats(BaseModel):
    """The `budget` part of GET /v1/stats: target, realised cost and the keeper's offset."""

    enabled: bool = Field(description="is the keeper nudging thresholds (config keeper.enabled)")
    unit: str = Field(description="device_ms (EMULATED GPU time) or usd_per_1k, per image")
    target: float = Field(description="B")
    realized: float | None = Field(description="mean cost per image over the window")
    realized_over_target: float | None
    window_images: int
    offset_logits: float = Field(description="added to every learned threshold, in logits")
    thresholds: dict[str, float] = Field(description="learned tier -> live threshold")
    images: int
    updates: int = Field(description="times the keeper moved the offset")


class BudgetKeeper:
    """Sliding-window realised cost and the threshold offset that holds it at the target."""

    def __init__(
        self, target: float, unit: str, settings: KeeperConfig,
        base_thresholds: Mapping[str, float],
    ) -> None:
        self.target = float(target)
        self.unit = unit
        self.settings = settings
        self.base = dict(base_thresholds)
        self.offset = 0.0
        self.window: deque[float] = deque(maxlen=settings.window)
        self._since_update = 0
        self.images = 0
        self.updates = 0

    @classmethod
    def from_budget(cls, budget: BudgetConfig, base_thresholds: Mapping[str, float]):
        return cls(budget.target, budget.unit, budget.keeper, base_thresholds)

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def realized(self) -> float | None:
        return sum(self.window) / len(self.window) if self.window else None

    def observe(self, costs: Iterable[float]) -> bool:
        """Add realised per-image costs; True when the offset moved (thresholds changed)."""
        moved = False
        for cost in costs:
            self.window.append(float(cost))
            self.images += 1
            self._since_update += 1
            if self._since_update >= self.settings.update_every:
                self._since_update = 0
                moved |= self._nudge()
        return moved

    def _nudge(self) -> bool:
        if not self.enabled or len(self.window) < self.settings.update_every:
            return False
        error = (self.realized - self.target) / self.target
        if abs(error) <= self.settings.deadband:
            return False
        bound = self.settings.max_offset
        new = min(bound, max(-bound, self.offset - self.settings.gain * error))
        if new == self.offset:
            return False
        self.offset = new
        self.updates += 1
        return True

    def set_target(self, target: float) -> None:
        if not target > 0:
            raise ValueError("budget: the target must be > 0")
        self.target = float(target)

    def rebase(self, base_thresholds: Mapping[str, float]) -> None:
        """New calibrated thresholds (an admin policy change); the offset stays."""
        self.base = dict(base_thresholds)

    def thresholds(self) -> dict[str, float]:
        return {name: shifted_threshold(t, self.offset) for name, t in self.base.items()}

    def snapshot(self) -> BudgetStats:
        realized = self.realized
        return BudgetStats(**{
            "enabled": self.enabled,
            "unit": self.unit,
            "target": self.target,
            "realized": realized,
            "realized_over_target": None if realized is None else realized / self.target,
            "window_images": len(self.window),
            "offset_logits": self.offset,
            "thresholds": self.thresholds(),
            "images": self.images,
            "updates": self.updates,
        })


def learned_thresholds(tiers: Sequence) -> dict[str, float]:
    """tier name -> calibrated threshold of every learned tier but the last (config tiers)."""
    return {
        t.name: t.exit_policy.threshold
        for t in list(tiers)[:-1]
        if t.exit_policy.kind == "learned"
    }


def outcome_cost(outcome, unit: str) -> float:
    """An answered image's realised cost in the budget's unit."""
    if unit == "usd_per_1k":
        return outcome.cost.usd * 1000.0
    return outcome.cost.device_seconds * 1000.0


def apply_thresholds(plans: Sequence, thresholds: Mapping[str, float]) -> tuple:
    """The runner's TierPlans with the keeper's thresholds on the learned tiers."""
    return tuple(
        dataclasses.replace(p, threshold=thresholds[p.name]) if p.name in thresholds else p
        for p in plans
    )


class KeeperMetrics:
    """Gauges of the keeper (created in the ingress replica, never at import time)."""

    def __init__(self) -> None:
        from ray.util.metrics import Gauge

        self.target = Gauge("coe_budget_target", "budget B per image", tag_keys=("unit",))
        self.realized = Gauge("coe_budget_realized",
                              "realised cost per image over the keeper's window "
                              "(device time EMULATED on CPU)", tag_keys=("unit",))
        self.offset = Gauge("coe_budget_offset_logits",
                            "offset the keeper adds to the learned thresholds")

    def record(self, keeper: BudgetKeeper) -> None:
        tags = {"unit": keeper.unit}
        self.target.set(keeper.target, tags=tags)
        if keeper.realized is not None:
            self.realized.set(keeper.realized, tags=tags)
        self.offset.set(keeper.offset)


def check_update(config, update, keeper: BudgetKeeper | None, catalog: str | None = None) -> None:
    """Raise a 422 InputError if `update` (a PolicyUpdate) would make an invalid cascade:
    a learned scheduler that does not fit its tier, or a budget without a budget section."""
    from pydantic import ValidationError

    from cascade.config import parse_cascade
    from serve_app.body import describe_validation
    from serve_app.decode import InputError

    if update.budget is not None and keeper is None:
        raise InputError("invalid_policy", "budget: this cascade has no `budget` section "
                         "in its config, so there is no target to change", status=422)
    raw = config.model_dump(mode="json", exclude_none=True)
    for tier in raw["tiers"]:
        if tier["name"] in update.exit_policies:
            tier["exit_policy"] = update.exit_policies[tier["name"]].model_dump(
                mode="json", exclude_none=True)
    try:
        parse_cascade(raw, check_models=False, catalog=catalog)
    except ValidationError as exc:
        raise InputError("invalid_policy", describe_validation(exc.errors()), status=422) from None
    except ValueError as exc:
        raise InputError("invalid_policy", str(exc), status=422) from None
