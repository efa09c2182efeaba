"""Live load gears in the ingress: the arrival rate picks the gear, the gear the thresholds.

Why: at peak load the escalated traffic is what needs the most capacity (CascadeServe,
arXiv 2406.14424). A gear (cascade.gears, planned by `coe plan --gears`) is a set of exit
thresholds over the same models; this replica measures its own arrival rate over a sliding
window and moves between gears with `cascade.gears.select_gear`, the function the simulator
uses, so thresholds change and models do not. Pure logic here; the gauges are separate.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from cascade.gears import GearSet, select_gear


class GearShifter:
    """The active gear of one ingress replica and the rate it was chosen at."""

    def __init__(self, gear_set: GearSet, tier_names: Sequence[str], window_s: float = 10.0):
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        self.gear_set = gear_set
        self.tier_names = list(tier_names)
        self.window_s = window_s
        self.index = 0
        self.switches = 0
        self.rate_per_s = 0.0
        self._arrivals: deque[tuple[float, int]] = deque()
        self._images = 0
        self._first_at: float | None = None

    @property
    def name(self) -> str:
        return self.gear_set.gears[self.index].name

    def observe(self, now: float, images: int = 1) -> bool:
        """Count `images` arriving at `now` (monotonic s); True when the gear changed."""
        if self._first_at is None:
            self._first_at = now
        self._arrivals.append((now, images))
        self._images += images
        while self._arrivals and self._arrivals[0][0] <= now - self.window_s:
            self._images -= self._arrivals.popleft()[1]
        span = min(self.window_s, max(now - self._first_at, 1.0))
        self.rate_per_s = self._images / span
        index = select_gear(self.rate_per_s, self.index, self.gear_set.gears,
                            self.gear_set.hysteresis)
        if index == self.index:
            return False
        self.index, self.switches = index, self.switches + 1
        return True

    def thresholds(self) -> dict[str, float]:
        """Exit thresholds of tiers 0..n-2 under the active gear, by tier name."""
        gear = self.gear_set.gears[self.index]
        return dict(zip(self.tier_names, gear.thresholds, strict=False))

    def snapshot(self) -> dict:
        return {"active": self.name, "active_index": self.index, "switches": self.switches,
                "rate_per_s": round(self.rate_per_s, 3), "window_s": self.window_s,
                "thresholds": self.thresholds(),
                "gears": [g.name for g in self.gear_set.gears]}


class GearMetrics:
    """Gauges and counters of the gear (created in the ingress replica, never at import)."""

    def __init__(self) -> None:
        from ray.util.metrics import Counter, Gauge

        self.active = Gauge("coe_gear_active", "index of the active load gear")
        self.rate = Gauge("coe_gear_rate_per_s", "ingress arrival rate the gear follows")
        self.switches = Counter("coe_gear_switches", "load gear switches",
                                tag_keys=("to_gear",))

    def record(self, shifter: GearShifter, switched: bool) -> None:
        self.active.set(shifter.index)
        self.rate.set(shifter.rate_per_s)
        if switched:
            self.switches.inc(1, tags={"to_gear": shifter.name})
