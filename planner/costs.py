"""Per-image cost of each pool member on each GPU class: the one table the planner prices with.

Built from a profile (planner.profile): measured device time on a real GPU class when the
profile has it, else CPU time turned into device time by `cost_model.device_time.DeviceClock`,
the same conversion the live members bill with. With a request rate (`Batching`) the cost
of a member is taken at the batch sizes Serve forms at that rate (`planner.batching`):
floors are paid per batch, so an emptier batch costs more per image. `reach` is the fraction
of requests that get to the member's tier. Kept separate from the simulator so that
synthetic tests can hand it exact numbers (`uniform_cost_table`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cost_model.device_time import DeviceClock
from planner.batching import batch_size_distribution, mean_batch_size, seconds_per_image

DEFAULT_TIERS_GPU = ("T4", "L4", "A100-40GB")  # the classes of the local demo cluster
DEFAULT_RATE_PER_S = 20.0  # the demo's open-loop request rate; plans are priced at it
BATCH_WAIT_TIMEOUT_S = 0.005  # what planned cascades deploy with (cascade member default)


@dataclass(frozen=True)
class Batching:
    """The traffic a plan is priced for: Poisson requests into tier 0 and Serve's batcher."""

    rate_per_s: float
    max_batch_size: int = 8
    batch_wait_timeout_s: float = BATCH_WAIT_TIMEOUT_S

    def distribution(self, reach: float = 1.0) -> dict[int, float]:
        return batch_size_distribution(
            self.rate_per_s * reach, self.max_batch_size, self.batch_wait_timeout_s
        )


@dataclass(frozen=True)
class MemberTiming:
    """What a member's cost at any batch size is computed from."""

    layers: int
    cpu_seconds_per_image: Mapping[int, float] = field(default_factory=dict)
    measured_seconds_per_image: Mapping[str, Mapping[int, float]] = field(default_factory=dict)


def at_batch(table: Mapping[int, float], batch_size: int) -> float:
    """Seconds per image at the nearest measured batch size (exact when measured)."""
    nearest = min(table, key=lambda bs: (abs(bs - batch_size), bs))
    return table[nearest]


class CostTable:
    """device-ms per image of (member, class), optionally at the batches a rate produces."""

    def __init__(
        self,
        usd_per_device_ms: Mapping[str, float],
        *,
        device_ms: Mapping[tuple[str, str], float] | None = None,
        timings: Mapping[str, MemberTiming] | None = None,
        clock: DeviceClock | None = None,
        batching: Batching | None = None,
        priced_batch_size: int = 8,
        mflops: Mapping[str, float] | None = None,
        emulated: bool = True,
    ) -> None:
        if (device_ms is None) == (timings is None):
            raise ValueError("a cost table needs exactly one of device_ms and timings")
        self.usd_per_device_ms = dict(usd_per_device_ms)
        self.fixed_ms = dict(device_ms or {})
        self.timings = dict(timings or {})
        self.clock = clock if clock is not None or timings is None else DeviceClock()
        self.batching = batching
        self.priced_batch_size = priced_batch_size
        self.mflops = dict(mflops or {})
        self.emulated = emulated
        self._memo: dict[tuple[str, str, float], float] = {}

    @property
    def classes(self) -> list[str]:
        return list(self.usd_per_device_ms)

    def distribution(self, reach: float = 1.0) -> dict[int, float]:
        """Batch sizes a member of a tier reached by `reach` of the requests runs."""
        if self.batching is None:
            return {self.priced_batch_size: 1.0}
        return self.batching.distribution(reach)

    def predicted_batch(self, reach: float = 1.0) -> float:
        return mean_batch_size(self.distribution(reach))

    def call_ms(self, member: str, gpu_class: str, batch_size: int) -> float:
        """Device-ms of one call of `batch_size` images (the latency of that batch)."""
        if member not in self.timings:
            return self.member_ms(member, gpu_class) * batch_size
        timing = self.timings[member]
        measured = timing.measured_seconds_per_image.get(gpu_class)
        if measured:
            return at_batch(measured, batch_size) * batch_size * 1000.0
        if not timing.cpu_seconds_per_image:
            raise ValueError(
                f"--profile: member {member!r} has no timing for GPU class {gpu_class!r} "
                "and no CPU timing to emulate it from"
            )
        cpu = at_batch(timing.cpu_seconds_per_image, batch_size) * batch_size
        return self.clock.call_seconds(cpu, gpu_class, layers=timing.layers, emulated=True) * 1000.0

    def member_ms(self, member: str, gpu_class: str, reach: float = 1.0) -> float:
        if not self.timings:
            try:
                return float(self.fixed_ms[(member, gpu_class)])
            except KeyError:
                raise KeyError(
                    f"no cost for member {member!r} on GPU class {gpu_class!r}"
                ) from None
        if member not in self.timings:
            raise KeyError(f"no cost for member {member!r} on GPU class {gpu_class!r}")
        key = (member, gpu_class, round(reach, 3))
        if key not in self._memo:
            dist = self.distribution(reach)
            self._memo[key] = seconds_per_image(
                dist, lambda k: self.call_ms(member, gpu_class, k)
            )
        return self._memo[key]

    def member_usd(self, member: str, gpu_class: str, reach: float = 1.0) -> float:
        return self.member_ms(member, gpu_class, reach) * self.usd_per_device_ms[gpu_class]

    def tier_ms(self, members: Sequence[str], gpu_class: str, reach: float = 1.0) -> float:
        """Every member of a tier is paid for every image that reaches the tier."""
        return sum(self.member_ms(m, gpu_class, reach) for m in members)

    def tier_usd(self, members: Sequence[str], gpu_class: str, reach: float = 1.0) -> float:
        return sum(self.member_usd(m, gpu_class, reach) for m in members)

    def tier_latency_ms(self, members: Sequence[str], gpu_class: str, reach: float = 1.0) -> float:
        """Predicted latency of the tier: its slowest member's call at the largest batch the
        rate makes likely (95th percentile of batch sizes), plus the batching wait."""
        dist = self.distribution(reach)
        size, mass = max(dist), 0.0
        for k in sorted(dist):
            mass += dist[k]
            if mass >= 0.95:
                size = k
                break
        wait_ms = 0.0 if self.batching is None else self.batching.batch_wait_timeout_s * 1000
        return wait_ms + max(self.call_ms(m, gpu_class, size) for m in members)

    def tier_mflops(self, members: Sequence[str]) -> float:
        return sum(float(self.mflops.get(m, 0.0)) for m in members)


def cheapest_class(
    costs: CostTable,
    members: Sequence[str],
    classes: Sequence[str],
    reach: float = 1.0,
    slo_ms: float | None = None,
) -> str:
    """The class where this tier costs the fewest $ per image among those whose predicted
    latency meets `slo_ms`; when none meets it, the fastest class."""
    options = [
        (costs.tier_usd(members, g, reach), costs.tier_latency_ms(members, g, reach), g)
        for g in classes
    ]
    meeting = [o for o in options if slo_ms is None or o[1] <= slo_ms]
    return min(meeting)[2] if meeting else min(options, key=lambda o: o[1])[2]


def gpu_for_tier(tiers_gpu: Sequence[str], index: int) -> str:
    """Placement by tier index: tier i runs on tiers_gpu[i] (the last class repeats)."""
    if not tiers_gpu:
        raise ValueError("tiers_gpu: at least one GPU class is needed")
    return tiers_gpu[min(index, len(tiers_gpu) - 1)]


def usd_per_device_ms(classes: Sequence[str], clock: DeviceClock) -> dict[str, float]:
    """$ per device-millisecond of each class, from the clock's price table."""
    return {name: clock.usd_per_second(name) / 1000.0 for name in classes}


def uniform_cost_table(
    device_ms: Mapping[str, float],
    classes: Sequence[str],
    mflops: Mapping[str, float] | None = None,
    clock: DeviceClock | None = None,
) -> CostTable:
    """A synthetic table: each member costs the same device-ms on every class (tests, benches)."""
    clock = clock or DeviceClock()
    fixed = {(member, gpu): float(ms) for member, ms in device_ms.items() for gpu in classes}
    return CostTable(usd_per_device_ms(classes, clock), device_ms=fixed, mflops=mflops)
