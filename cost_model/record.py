"""What one prediction consumed: device-seconds per member, tier and GPU class, and dollars.

Pure arithmetic, no Ray: the live runner builds one record per image from the members'
measured (or emulated) device-seconds, and the stats / planner code sums them. Dollars are
always device-seconds x the GPU class's price per second from the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


def member_key(tier: str, member: str) -> str:
    """The key of a member in `CostRecord.device_seconds_by_member` (tier-qualified)."""
    return f"{tier}/{member}"


@dataclass(frozen=True)
class MemberUsage:
    """Device time one member spent on one image, and where it ran."""

    tier: str
    member: str
    gpu_class: str
    device_seconds: float
    emulated: bool
    cpu_seconds: float = 0.0
    batch_size: int = 1  # the batch the image ran in: floors are paid per batch
    billed_class_mismatch: bool = False  # measured on a GPU that is not of gpu_class


class CostRecord(BaseModel):
    """Device-seconds and dollars of one prediction (or of a sum of predictions)."""

    model_config = ConfigDict(extra="forbid")

    device_seconds_by_member: dict[str, float] = Field(
        default_factory=dict, description="'<tier>/<member>' -> device-seconds"
    )
    device_seconds_by_tier: dict[str, float] = Field(default_factory=dict)
    device_seconds_by_gpu_class: dict[str, float] = Field(default_factory=dict)
    batches_by_member: dict[str, float] = Field(
        default_factory=dict,
        description="'<tier>/<member>' -> share of a batch (1 / batch size): summed over "
        "predictions and divided into their count it gives the mean live batch size",
    )
    usd_by_gpu_class: dict[str, float] = Field(default_factory=dict)
    usd: float = Field(default=0.0, ge=0.0)
    cpu_seconds: float = Field(
        default=0.0, ge=0.0, description="measured CPU seconds behind emulated device time"
    )
    emulated: bool = Field(
        default=False, description="True if any device time was emulated from CPU time"
    )
    not_measured_on_billed_class: list[str] = Field(
        default_factory=list,
        description="GPU classes billed here whose device time was measured on a CUDA "
        "device of another class (see `coe doctor`)",
    )

    @property
    def device_seconds(self) -> float:
        return sum(self.device_seconds_by_gpu_class.values())


def _add(target: dict[str, float], key: str, value: float) -> None:
    target[key] = target.get(key, 0.0) + value


def record_from_usage(
    usages: Iterable[MemberUsage], price_per_second: Mapping[str, float]
) -> CostRecord:
    """Build the cost record of one prediction from the members that worked on it.

    `price_per_second` maps GPU class name -> $ per device-second (catalog price / 3600).
    """
    by_member: dict[str, float] = {}
    by_tier: dict[str, float] = {}
    by_class: dict[str, float] = {}
    batches: dict[str, float] = {}
    cpu = 0.0
    emulated = False
    mismatched: set[str] = set()
    for usage in usages:
        if usage.device_seconds < 0:
            raise ValueError(f"negative device_seconds for {usage.tier}/{usage.member}")
        _add(by_member, member_key(usage.tier, usage.member), usage.device_seconds)
        _add(by_tier, usage.tier, usage.device_seconds)
        _add(by_class, usage.gpu_class, usage.device_seconds)
        _add(batches, member_key(usage.tier, usage.member), 1.0 / max(usage.batch_size, 1))
        cpu += usage.cpu_seconds
        emulated = emulated or usage.emulated
        if usage.billed_class_mismatch:
            mismatched.add(usage.gpu_class)
    usd_by_class = {}
    for gpu_class, seconds in by_class.items():
        if gpu_class not in price_per_second:
            raise KeyError(f"no price for GPU class {gpu_class!r}")
        usd_by_class[gpu_class] = seconds * price_per_second[gpu_class]
    return CostRecord(
        device_seconds_by_member=by_member,
        device_seconds_by_tier=by_tier,
        device_seconds_by_gpu_class=by_class,
        batches_by_member=batches,
        usd_by_gpu_class=usd_by_class,
        usd=sum(usd_by_class.values()),
        cpu_seconds=cpu,
        emulated=emulated,
        not_measured_on_billed_class=sorted(mismatched),
    )


SUMMED_MAPS = (
    "device_seconds_by_member",
    "device_seconds_by_tier",
    "device_seconds_by_gpu_class",
    "batches_by_member",
    "usd_by_gpu_class",
)


def merge(records: Iterable[CostRecord]) -> CostRecord:
    """Sum several records key by key (e.g. all predictions of a request or a load test)."""
    sums: dict[str, dict[str, float]] = {field: {} for field in SUMMED_MAPS}
    cpu = 0.0
    emulated = False
    mismatched: set[str] = set()
    for record in records:
        for field, target in sums.items():
            for key, value in getattr(record, field).items():
                _add(target, key, value)
        cpu += record.cpu_seconds
        emulated = emulated or record.emulated
        mismatched.update(record.not_measured_on_billed_class)
    return CostRecord(
        **sums, usd=sum(sums["usd_by_gpu_class"].values()), cpu_seconds=cpu, emulated=emulated,
        not_measured_on_billed_class=sorted(mismatched),
    )


def usd_per_1k(total_usd: float, predictions: int) -> float | None:
    """Attributed dollars per thousand predictions (None before the first prediction)."""
    if predictions <= 0:
        return None
    return total_usd / predictions * 1000.0



def mean_batch_sizes(images_by_member: Mapping[str, int], batches_by_member: Mapping[str, float]
                     ) -> dict[str, float]:
    """Mean live batch size per member: images it ran / batches they filled."""
    return {
        member: images_by_member[member] / batches
        for member, batches in batches_by_member.items()
        if batches > 0 and images_by_member.get(member)
    }
