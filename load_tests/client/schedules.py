"""Load schedules: when requests are sent (open loop) or how many are in flight (closed loop).

Pure and seeded so a run can be repeated and unit-tested without a server. Open-loop
schedules are piecewise-linear arrival rates sampled as a (non-homogeneous) Poisson process
by time rescaling: unit-rate arrivals in cumulative-intensity space mapped back to time.
That one mechanism covers constant Poisson, steps and ramps.
"""

from __future__ import annotations

import math
import re
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class RateSegment(BaseModel):
    """A stretch of time whose arrival rate goes linearly from `rate_start` to `rate_end`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seconds: float = Field(gt=0, description="length of the segment; math.inf for open-ended")
    rate_start: float = Field(ge=0, description="requests per second at the segment start")
    rate_end: float = Field(ge=0, description="requests per second at the segment end")

    @model_validator(mode="after")
    def _finite_if_sloped(self) -> RateSegment:
        if math.isinf(self.seconds) and self.rate_start != self.rate_end:
            raise ValueError("seconds: an open-ended segment must have a constant rate")
        return self

    def cumulative(self, t: np.ndarray) -> np.ndarray:
        """Expected number of arrivals in [0, t] for t inside the segment."""
        if self.rate_start == self.rate_end:
            return self.rate_start * t
        slope = (self.rate_end - self.rate_start) / self.seconds
        return self.rate_start * t + 0.5 * slope * t * t

    def invert(self, mass: np.ndarray) -> np.ndarray:
        """Time at which the cumulative intensity reaches `mass` (inverse of `cumulative`)."""
        if self.rate_start == self.rate_end:
            return mass / self.rate_start
        slope = (self.rate_end - self.rate_start) / self.seconds
        # Solve 0.5*slope*t^2 + rate_start*t - mass = 0 for the root in [0, seconds]; this
        # form stays accurate when slope is tiny or the start rate is zero.
        disc = np.sqrt(np.maximum(self.rate_start**2 + 2.0 * slope * mass, 0.0))
        return 2.0 * mass / (self.rate_start + disc)


class OpenLoopSchedule(BaseModel):
    """Requests arrive by a clock regardless of how fast the server answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["poisson", "step", "ramp"]
    segments: list[RateSegment] = Field(min_length=1)
    seed: int = 0
    spec: str = ""

    @property
    def duration_s(self) -> float:
        """Length of the schedule; math.inf for a constant Poisson rate."""
        return float(sum(s.seconds for s in self.segments))

    def expected_requests(self, horizon_s: float) -> float:
        """Mean number of arrivals in [0, horizon_s] (used to check a run kept its schedule)."""
        total, start = 0.0, 0.0
        for segment in self.segments:
            if horizon_s <= start:
                break
            inside = min(horizon_s - start, segment.seconds)
            total += float(segment.cumulative(np.asarray(inside)))
            start += segment.seconds
        return total

    def arrival_times(self, horizon_s: float, max_requests: int) -> np.ndarray:
        """Seeded send offsets (seconds from start), sorted, within the horizon and count."""
        rng = np.random.default_rng(self.seed)
        times: list[np.ndarray] = []
        start, count = 0.0, 0
        for segment in self.segments:
            if start >= horizon_s or count >= max_requests:
                break
            end = min(segment.seconds, horizon_s - start)
            if segment.rate_start == 0 and segment.rate_end == 0:
                start += segment.seconds
                continue
            mass_end = float(segment.cumulative(np.asarray(end)))
            masses = _unit_poisson_points(rng, mass_end, max_requests - count)
            offsets = segment.invert(masses)
            offsets = offsets[offsets < end]
            times.append(start + offsets)
            count += len(offsets)
            start += segment.seconds
        if not times:
            return np.zeros(0)
        return np.concatenate(times)[:max_requests]


class ClosedLoopSchedule(BaseModel):
    """A fixed number of users, each sending its next request as soon as the last returns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["closed"] = "closed"
    concurrency: int = Field(ge=1, le=4096)
    spec: str = ""

    @property
    def duration_s(self) -> float:
        return math.inf


Schedule = OpenLoopSchedule | ClosedLoopSchedule


def _unit_poisson_points(rng: np.random.Generator, mass_end: float, limit: int) -> np.ndarray:
    """Points of a unit-rate Poisson process on [0, mass_end], at most `limit` of them."""
    points: list[np.ndarray] = []
    last, drawn = 0.0, 0
    chunk = int(min(max(mass_end * 1.2 + 16, 16), max(limit, 1) + 1, 1_000_000))
    while last < mass_end and drawn < limit:
        gaps = rng.exponential(1.0, size=chunk)
        cumulative = last + np.cumsum(gaps)
        points.append(cumulative)
        last = float(cumulative[-1])
        drawn += chunk
    if not points:
        return np.zeros(0)
    all_points = np.concatenate(points)
    return all_points[all_points < mass_end][:limit]


def poisson(rate: float, *, seed: int = 0) -> OpenLoopSchedule:
    """Constant-rate Poisson arrivals (open loop, unbounded: the run limits end it)."""
    if rate <= 0:
        raise ValueError(f"poisson rate must be > 0 requests/s, got {rate}")
    segment = RateSegment(seconds=math.inf, rate_start=rate, rate_end=rate)
    return OpenLoopSchedule(kind="poisson", segments=[segment], seed=seed, spec=f"poisson:{rate:g}")


def step(steps: list[tuple[float, float]], *, seed: int = 0) -> OpenLoopSchedule:
    """Piecewise-constant rate: each (rate, seconds) in turn, Poisson within each step."""
    if not steps:
        raise ValueError("step schedule needs at least one (rate, seconds) pair")
    segments = [RateSegment(seconds=s, rate_start=r, rate_end=r) for r, s in steps]
    spec = "step:" + ",".join(f"{r:g}x{s:g}" for r, s in steps)
    return OpenLoopSchedule(kind="step", segments=segments, seed=seed, spec=spec)


def ramp(rate_from: float, rate_to: float, seconds: float, *, seed: int = 0) -> OpenLoopSchedule:
    """Rate rising (or falling) linearly from `rate_from` to `rate_to` over `seconds`."""
    if rate_from == 0 and rate_to == 0:
        raise ValueError("ramp needs a non-zero rate at one end at least")
    segment = RateSegment(seconds=seconds, rate_start=rate_from, rate_end=rate_to)
    spec = f"ramp:{rate_from:g}-{rate_to:g}/{seconds:g}"
    return OpenLoopSchedule(kind="ramp", segments=[segment], seed=seed, spec=spec)


def closed(concurrency: int) -> ClosedLoopSchedule:
    """Closed loop with `concurrency` users in flight at all times."""
    return ClosedLoopSchedule(concurrency=concurrency, spec=f"closed:{concurrency}")


_NUMBER = r"(\d+(?:\.\d+)?)"
_STEP_ITEM = re.compile(rf"^\s*{_NUMBER}\s*x\s*{_NUMBER}\s*s?\s*$")
_RAMP = re.compile(rf"^\s*{_NUMBER}\s*-\s*{_NUMBER}\s*/\s*{_NUMBER}\s*s?\s*$")

SCHEDULE_HELP = (
    "poisson:RATE | closed:N | step:R1xS1,R2xS2,... | ramp:A-B/T "
    "(rates in requests/s, durations in seconds)"
)


def parse_schedule(spec: str, *, seed: int = 0) -> Schedule:
    """Parse a `--schedule` string; errors name the part that is wrong and show the syntax."""
    kind, sep, body = spec.partition(":")
    kind = kind.strip().lower()
    if not sep or not body.strip():
        raise ValueError(f"schedule {spec!r}: expected KIND:ARGS, one of {SCHEDULE_HELP}")
    try:
        if kind == "poisson":
            return poisson(float(body), seed=seed)
        if kind == "closed":
            return closed(int(body))
        if kind == "step":
            pairs = []
            for item in body.split(","):
                match = _STEP_ITEM.match(item)
                if not match:
                    raise ValueError(f"step item {item.strip()!r} is not RATExSECONDS")
                pairs.append((float(match[1]), float(match[2])))
            return step(pairs, seed=seed)
        if kind == "ramp":
            match = _RAMP.match(body)
            if not match:
                raise ValueError(f"{body!r} is not A-B/T")
            return ramp(float(match[1]), float(match[2]), float(match[3]), seed=seed)
    except ValueError as exc:
        raise ValueError(f"schedule {spec!r}: {exc}; syntax: {SCHEDULE_HELP}") from None
    raise ValueError(f"schedule {spec!r}: unknown kind {kind!r}; syntax: {SCHEDULE_HELP}")
