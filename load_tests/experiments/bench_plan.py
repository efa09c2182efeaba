"""Pure scheduling logic of the side-by-side benchmarks: window order and the rate search.

Why separate: the live benchmark is slow and noisy; the decisions it takes (which app runs
in which window, when a rate step counts as sustained, where the search stops) are plain
functions that unit tests check on synthetic numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


def alternating_order(apps: Sequence[str], rounds: int) -> list[tuple[int, str]]:
    """(round, app) windows, alternating A B, B A, A B, ... so slow drift hits both alike.

    Reversing the order every other round (ABBA) keeps either app from always running
    right after the other one (warm caches, leftover queue), not just interleaving them.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if len(set(apps)) != len(apps) or not apps:
        raise ValueError(f"apps must be non-empty and distinct, got {list(apps)}")
    order: list[tuple[int, str]] = []
    for r in range(rounds):
        names = list(apps) if r % 2 == 0 else list(reversed(apps))
        order += [(r, name) for name in names]
    return order


def rate_ladder(start: float, factor: float, max_rate: float) -> list[float]:
    """Offered rates start, start*factor, ... up to max_rate (inclusive), rounded to 0.1."""
    if start <= 0 or factor <= 1 or max_rate < start:
        raise ValueError(
            f"need start > 0, factor > 1, max_rate >= start (got {start}, {factor}, {max_rate})"
        )
    rates, rate = [], start
    while rate <= max_rate * (1 + 1e-9):
        rates.append(round(rate, 1))
        rate *= factor
    return rates


class StepOutcome(BaseModel):
    """What one rate step of one app measured."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(gt=0, description="offered requests/s")
    sent: int = Field(ge=0)
    ok: int = Field(ge=0)
    p99_ms: float | None = Field(description="over ok requests; None if none succeeded")
    achieved_rps: float | None = None

    @property
    def error_rate(self) -> float:
        """Everything that did not come back as a well-formed 2xx prediction."""
        return 1.0 if self.sent == 0 else (self.sent - self.ok) / self.sent


def sustained(outcome: StepOutcome, slo_p99_ms: float, max_error_rate: float = 0.01) -> bool:
    """A rate is sustained when p99 <= SLO and errors (incl. timeouts) <= max_error_rate."""
    if outcome.p99_ms is None or outcome.sent == 0:
        return False
    return outcome.p99_ms <= slo_p99_ms and outcome.error_rate <= max_error_rate


def max_sustainable_rate(
    outcomes: Sequence[StepOutcome], slo_p99_ms: float, max_error_rate: float = 0.01
) -> float | None:
    """Highest offered rate sustained before the first failing step (None if the first fails).

    Steps after a failure are ignored even if they pass: a pass above a failure is noise,
    and the search stops there anyway.
    """
    best = None
    for outcome in sorted(outcomes, key=lambda o: o.rate):
        if not sustained(outcome, slo_p99_ms, max_error_rate):
            break
        best = outcome.rate
    return best


class RateSearch:
    """Steps every app up the same rate ladder; an app drops out at its first failing step.

    At each rate the still-active apps run one window each, in alternating order across
    steps (the ABBA order of `alternating_order`).
    """

    def __init__(
        self, apps: Sequence[str], rates: Sequence[float], slo_p99_ms: float,
        max_error_rate: float = 0.01,
    ) -> None:
        if not rates or list(rates) != sorted(rates):
            raise ValueError(f"rates must be non-empty and increasing, got {list(rates)}")
        self.apps = list(apps)
        self.rates = list(rates)
        self.slo_p99_ms = slo_p99_ms
        self.max_error_rate = max_error_rate
        self.outcomes: dict[str, list[StepOutcome]] = {app: [] for app in self.apps}
        self.failed: set[str] = set()

    def plan(self) -> list[tuple[float, list[str]]]:
        """(rate, app order) per step, assuming every app stays active (for the ETA)."""
        return [(rate, [a for _, a in alternating_order(self.apps, i + 1)[-len(self.apps):]])
                for i, rate in enumerate(self.rates)]

    def order_at(self, step: int) -> list[str]:
        """Active apps in this step's alternating order."""
        order = self.apps if step % 2 == 0 else list(reversed(self.apps))
        return [a for a in order if a not in self.failed]

    def record(self, app: str, outcome: StepOutcome) -> bool:
        """Store a step result; return whether it was sustained (a failure retires the app)."""
        self.outcomes[app].append(outcome)
        ok = sustained(outcome, self.slo_p99_ms, self.max_error_rate)
        if not ok:
            self.failed.add(app)
        return ok

    def done(self) -> bool:
        return len(self.failed) == len(self.apps)

    def result(self) -> dict[str, float | None]:
        return {
            app: max_sustainable_rate(self.outcomes[app], self.slo_p99_ms, self.max_error_rate)
            for app in self.apps
        }

    def censored(self) -> dict[str, bool]:
        """True where an app passed every step: its real maximum is above the ladder's top."""
        return {app: app not in self.failed and len(self.outcomes[app]) == len(self.rates)
                for app in self.apps}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, None when either is unknown or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0 or math.isnan(denominator):
        return None
    return numerator / denominator


def write_json_report(report: dict, out_dir: str, name: str) -> Path:
    """Write `report` as `<out_dir>/<name>` (indented JSON), creating the directory."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path
