"""What one emulated reference image costs on THIS machine's CPU: the emulation unit.

Why: the members run on a CPU here, and their CPU seconds must map to GPU work of a plausible
size. The reference network (ResNet-50) is timed on this CPU with one torch thread, and the
catalog cites how fast each class runs the same network; the ratio turns any member's
measured CPU seconds into reference-image work. The measurement itself lives in
`zoo.calibrate` (it needs torch); this module only holds and validates the figure.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class EmulationCalibration(BaseModel):
    """CPU seconds of one reference image on one torch thread, measured on `host`."""

    model_config = ConfigDict(extra="forbid")

    reference: str
    cpu_seconds_per_image: float = Field(gt=0)
    batch_size: int = Field(ge=1)
    host: str
    torch_version: str = ""
    measured_at: str = ""

    def reference_images(self, cpu_seconds: float) -> float:
        """Work of `cpu_seconds` of this CPU, in reference images."""
        if cpu_seconds < 0:
            raise ValueError(f"measured seconds must be >= 0, got {cpu_seconds}")
        return cpu_seconds / self.cpu_seconds_per_image


def read_calibration(path: str | Path) -> EmulationCalibration | None:
    """The calibration stored at `path`, or None when there is none yet."""
    path = Path(path)
    if not path.exists():
        return None
    return EmulationCalibration.model_validate_json(path.read_text())
