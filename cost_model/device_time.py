"""Measured time -> device-seconds of a GPU class -> dollars: the one place that converts.

Why one module: the live members (billing), the planner's profiler and cost table, sizing
and every report must turn a measurement into GPU-class time and dollars the same way, or a
plan's predicted cost is not what the server then bills. Nothing else divides by a class's
speed or looks up a price; they all call `DeviceClock`.
"""

from __future__ import annotations

from pathlib import Path

from cost_model.catalog import GPUCatalog, load_catalog
from cost_model.prices import PriceTable, PricingKind

EMULATION_NOTE = (
    "EMULATED: no GPU on this machine; device-seconds of a GPU class are CPU seconds of the "
    "forward pass (1 torch thread) divided by the class's relative_throughput from the "
    "catalog, and dollars are those device-seconds x the class's catalog price."
)
MEASURED_NOTE = "device-seconds measured on real GPUs (synchronised forward-pass time)"


def emulation_note(emulated: bool) -> str:
    """The sentence every report prints about where its device time comes from."""
    return EMULATION_NOTE if emulated else MEASURED_NOTE


class DeviceClock:
    """Converts measured forward-pass seconds into device-seconds and dollars of a class."""

    def __init__(self, catalog: GPUCatalog | None = None, prices: PriceTable | None = None):
        self.catalog = catalog if catalog is not None else load_catalog()
        self.prices = prices if prices is not None else PriceTable(self.catalog)

    @classmethod
    def from_path(
        cls, path: str | Path | None = None, kind: PricingKind = "on-demand"
    ) -> DeviceClock:
        catalog = load_catalog(path)
        return cls(catalog, PriceTable(catalog, kind))

    def device_seconds(self, measured_seconds: float, gpu_class: str, *, emulated: bool) -> float:
        """Device-seconds on `gpu_class` of work measured as `measured_seconds`.

        Measured on the class itself (a real GPU): taken as it is. Measured on this CPU:
        emulated through the class's speed in the catalog.
        """
        if measured_seconds < 0:
            raise ValueError(f"measured seconds must be >= 0, got {measured_seconds}")
        if not emulated:
            return measured_seconds
        return measured_seconds / self.catalog.get(gpu_class).relative_throughput

    def usd(self, device_seconds: float, gpu_class: str, deployment: str | None = None) -> float:
        """Dollars for `device_seconds` of one GPU of the class (overrides and spot apply)."""
        return self.prices.usd(device_seconds, gpu_class, deployment)

    def usd_per_second(self, gpu_class: str) -> float:
        return self.prices.price(gpu_class).usd_per_second

    def usd_per_second_by_class(self) -> dict[str, float]:
        """GPU class -> $ per device-second, for every class in the catalog."""
        return {name: self.usd_per_second(name) for name in self.catalog.classes}


def split_batch(batch_device_seconds: float, batch_size: int) -> float:
    """Device-seconds charged to each item of a batch (an even split)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if batch_device_seconds < 0:
        raise ValueError(f"device seconds must be >= 0, got {batch_device_seconds}")
    return batch_device_seconds / batch_size
