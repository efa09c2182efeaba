"""Measured time -> device-seconds of a GPU class -> dollars: the one place that converts.

Why one module: the live members (billing), the planner's profiler and cost table, sizing
and every report must turn a measurement into GPU-class time and dollars the same way, or a
plan's predicted cost is not what the server then bills. Nothing else divides by a class's
speed or looks up a price; they all call `DeviceClock`.
"""

from __future__ import annotations

from pathlib import Path

from cost_model.calibration import EmulationCalibration
from cost_model.catalog import GPUCatalog, load_catalog
from cost_model.prices import PriceTable, PricingKind

EMULATION_NOTE = (
    "EMULATED: no GPU on this machine. A member's device time on a GPU class = the class's "
    "call floor + per-layer floor x layers + its measured CPU work (1 torch thread) "
    "converted to ResNet-50-image equivalents (calibrated on this CPU) at the class's cited "
    "peak rate; device model and prices from the catalog, each with its source."
)
MEASURED_NOTE = "device-seconds measured on real GPUs (synchronised forward-pass time)"


def emulation_note(emulated: bool) -> str:
    """The sentence every report prints about where its device time comes from."""
    return EMULATION_NOTE if emulated else MEASURED_NOTE


class DeviceClock:
    """Converts a measured forward call into device-seconds and dollars of a GPU class."""

    def __init__(
        self,
        catalog: GPUCatalog | None = None,
        prices: PriceTable | None = None,
        calibration: EmulationCalibration | None = None,
    ):
        self.catalog = catalog if catalog is not None else load_catalog()
        self.prices = prices if prices is not None else PriceTable(self.catalog)
        self.calibration = calibration

    @classmethod
    def from_path(
        cls,
        path: str | Path | None = None,
        kind: PricingKind = "on-demand",
        calibration: EmulationCalibration | None = None,
    ) -> DeviceClock:
        catalog = load_catalog(path)
        return cls(catalog, PriceTable(catalog, kind), calibration)

    def call_seconds(
        self, measured_seconds: float, gpu_class: str, *, layers: int, emulated: bool
    ) -> float:
        """Device-seconds on `gpu_class` of one forward call (a whole batch).

        Measured on the class itself (a real GPU): taken as it is. Measured on this CPU:
        the class's floors for a `layers`-deep network plus the measured work at the
        class's peak rate (`cost_model.device_model`).
        """
        if measured_seconds < 0:
            raise ValueError(f"measured seconds must be >= 0, got {measured_seconds}")
        if not emulated:
            return measured_seconds
        if self.calibration is None:
            raise ValueError(
                "emulating a GPU class needs the CPU calibration (zoo.calibrate.ensure_calibration)"
            )
        return self.model_seconds(
            gpu_class, layers=layers,
            reference_images=self.calibration.reference_images(measured_seconds),
        )

    def model_seconds(self, gpu_class: str, *, layers: int, reference_images: float) -> float:
        """Device-seconds of one call from the device model alone (no measurement)."""
        catalog = self.catalog
        return catalog.get(gpu_class).device_model.call_seconds(
            catalog.reference_network, catalog.call_floor, layers=layers,
            reference_images=reference_images,
        )

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
