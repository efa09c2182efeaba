"""How long one forward call takes on a GPU class: a per-call floor, a per-layer floor, peak rate.

Why this shape: small CNNs on a datacenter GPU are launch-bound, not compute-bound. A call
pays a fixed host/sync cost, every layer pays at least a minimum time (a kernel launch and
an under-filled wave), and only the work above that runs at the class's peak rate. So a
big GPU makes a large model at a large batch cheaper per image, but not a shallow model at
batch 1, which pays the big GPU's price for the same floors. Every parameter comes from a
cited public figure in the catalog (`gpu_catalog.yaml`); the per-layer floor of a class is
derived from its cited ResNet-50 batch-1 latency, its cited peak and the call floor.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Cited(BaseModel):
    """A figure's public source and the date it was published."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1)
    date: str = Field(min_length=4)


class ReferenceNetwork(Cited):
    """The network every class's figures are quoted for (ResNet-50 v1.5 at 224x224)."""

    name: str
    gmacs_per_image: float = Field(gt=0)
    layers: int = Field(gt=0, description="convolution + linear layers run per forward pass")


class CallFloor(Cited):
    """Fixed cost of one forward call on any class: launch, input copy, synchronisation."""

    microseconds: float = Field(ge=0)


class DeviceModel(BaseModel):
    """One class's cited ResNet-50 figures: peak rate at large batch, latency at batch 1."""

    model_config = ConfigDict(extra="forbid")

    reference_images_per_s: float = Field(gt=0, description="peak per-GPU throughput")
    peak_source: str = Field(min_length=1)
    peak_date: str = Field(min_length=4)
    reference_batch1_ms: float = Field(gt=0, description="latency of one image at batch 1")
    latency_source: str = Field(min_length=1)
    latency_date: str = Field(min_length=4)

    def peak_seconds_per_reference_image(self) -> float:
        return 1.0 / self.reference_images_per_s

    def layer_floor_seconds(self, reference: ReferenceNetwork, floor: CallFloor) -> float:
        """Minimum time of one layer: the batch-1 latency left after the call floor and the
        work at peak rate, spread over the reference network's layers."""
        left = (
            self.reference_batch1_ms / 1000.0
            - floor.microseconds / 1e6
            - self.peak_seconds_per_reference_image()
        )
        if left <= 0:
            raise ValueError(
                "reference_batch1_ms must exceed the call floor plus one image at peak rate"
            )
        return left / reference.layers

    def call_seconds(
        self, reference: ReferenceNetwork, floor: CallFloor, *, layers: int,
        reference_images: float,
    ) -> float:
        """Device-seconds of one call of a `layers`-deep network whose work equals
        `reference_images` ResNet-50 images (batch size x MACs / reference MACs)."""
        if layers < 0 or reference_images < 0:
            raise ValueError("layers and work must be >= 0")
        return (
            floor.microseconds / 1e6
            + layers * self.layer_floor_seconds(reference, floor)
            + reference_images * self.peak_seconds_per_reference_image()
        )
