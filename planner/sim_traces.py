"""Load traces for the serving simulator: request rate and input mix per tick.

The mix is the fraction of requests drawn from the "hard" images (the classes that escalate
most); it is what moves the reach of the upper tiers while the rate stays the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY_S = 86_400.0


@dataclass(frozen=True)
class Trace:
    """Requests/s and hard-image fraction at the start of every tick of `tick_s`."""

    name: str
    tick_s: float
    rate_per_s: np.ndarray
    hard_mix: np.ndarray

    @property
    def duration_s(self) -> float:
        return self.tick_s * len(self.rate_per_s)

    @property
    def peak_rate(self) -> float:
        return float(self.rate_per_s.max())


def diurnal(peak: float, duration_s: float = DAY_S, tick_s: float = 1.0,
            ratio: float = 10.0) -> Trace:
    """A day: trough = peak / ratio at midnight, peak at noon (raised cosine); the hard
    fraction peaks in the evening, 0.05 to 0.35, so escalation moves on its own."""
    t = np.arange(0.0, duration_s, tick_s)
    phase = 2 * np.pi * t / duration_s
    trough = peak / ratio
    rate = trough + (peak - trough) * (0.5 - 0.5 * np.cos(phase))
    mix = 0.05 + 0.30 * (0.5 - 0.5 * np.cos(phase - 2 * np.pi * 0.2))
    return Trace("diurnal", tick_s, rate, mix)


def step(low: float, high: float, seconds_each: float = 120.0, tick_s: float = 0.5,
         hard_mix: float = 0.1) -> Trace:
    """Low, high, low, each held for `seconds_each`."""
    per = int(round(seconds_each / tick_s))
    rate = np.concatenate([np.full(per, low), np.full(per, high), np.full(per, low)])
    return Trace("step", tick_s, rate.astype(float), np.full(rate.size, hard_mix))


def bursty(peak: float, duration_s: float = 3_600.0, tick_s: float = 1.0, seed: int = 0,
           base_fraction: float = 0.3, burst_s: float = 60.0,
           bursts_per_hour: float = 6.0) -> Trace:
    """A base load with bursts to the peak (random starts); hard images surge in bursts."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration_s, tick_s)
    rate = np.full(t.size, peak * base_fraction)
    mix = np.full(t.size, 0.1)
    count = rng.poisson(bursts_per_hour * duration_s / 3_600.0)
    for start in rng.uniform(0, duration_s - burst_s, size=count):
        window = (t >= start) & (t < start + burst_s)
        rate[window] = peak
        mix[window] = 0.3
    return Trace("bursty", tick_s, rate, mix)


def make_trace(name: str, peak: float, **kwargs) -> Trace:
    if name == "diurnal":
        return diurnal(peak, **kwargs)
    if name == "bursty":
        return bursty(peak, **kwargs)
    if name == "step":
        return step(peak / 10.0, peak, **kwargs)
    raise ValueError(f"unknown trace {name!r}; expected diurnal, bursty or step")
