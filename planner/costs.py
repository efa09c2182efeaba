"""Per-image cost of each pool member on each GPU class: the one table the planner prices with.

Built from a profile (planner.profile): measured device time on a real GPU class when the
profile has it, else CPU time emulated by `cost_model.device_time.DeviceClock`, the same
conversion the live members bill with. Kept separate from the simulator so that synthetic
tests can hand it exact numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cost_model.device_time import DeviceClock

DEFAULT_TIERS_GPU = ("T4", "L4", "A100-40GB")


@dataclass(frozen=True)
class CostTable:
    """device_ms[(member, gpu_class)] per image, $ per device-ms by class, MFLOPs per member."""

    device_ms: Mapping[tuple[str, str], float]
    usd_per_device_ms: Mapping[str, float]
    mflops: Mapping[str, float] = field(default_factory=dict)
    emulated: bool = True

    def member_ms(self, member: str, gpu_class: str) -> float:
        try:
            return float(self.device_ms[(member, gpu_class)])
        except KeyError:
            raise KeyError(f"no cost for member {member!r} on GPU class {gpu_class!r}") from None

    def member_usd(self, member: str, gpu_class: str) -> float:
        return self.member_ms(member, gpu_class) * self.usd_per_device_ms[gpu_class]

    def tier_ms(self, members: Sequence[str], gpu_class: str) -> float:
        """Every member of a tier is paid for every image that reaches the tier."""
        return sum(self.member_ms(m, gpu_class) for m in members)

    def tier_usd(self, members: Sequence[str], gpu_class: str) -> float:
        return sum(self.member_usd(m, gpu_class) for m in members)

    def tier_mflops(self, members: Sequence[str]) -> float:
        return sum(float(self.mflops.get(m, 0.0)) for m in members)


def gpu_for_tier(tiers_gpu: Sequence[str], index: int) -> str:
    """Placement by tier index: tier i runs on tiers_gpu[i] (the last class repeats)."""
    if not tiers_gpu:
        raise ValueError("tiers_gpu: at least one GPU class is needed")
    return tiers_gpu[min(index, len(tiers_gpu) - 1)]


def usd_per_device_ms(classes: Sequence[str], clock: DeviceClock) -> dict[str, float]:
    """$ per device-millisecond of each class, from the clock's price table."""
    return {name: clock.usd_per_second(name) / 1000.0 for name in classes}


def cost_table_from_cpu_ms(
    cpu_ms: Mapping[str, float],
    classes: Sequence[str],
    mflops: Mapping[str, float] | None = None,
    clock: DeviceClock | None = None,
) -> CostTable:
    """Emulated costs of members timed on this CPU (ms per image), on each class."""
    clock = clock or DeviceClock()
    device_ms = {
        (member, gpu): clock.device_seconds(ms, gpu, emulated=True)
        for member, ms in cpu_ms.items()
        for gpu in classes
    }
    return CostTable(device_ms, usd_per_device_ms(classes, clock), dict(mflops or {}), True)
