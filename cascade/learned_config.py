"""Config of the learned exit policy's scheduler and of the average-cost budget.

Kept out of cascade/config.py so that file only gains two fields. A scheduler is given
inline (`features` + `layers`) or as a JSON file of the same shape with its sha256; every
error names the field (`...scheduler.layers`, `...scheduler.sha256`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from cascade.learned import Scheduler, check_layers


class LayerConfig(BaseModel):
    """One dense layer: weight (out, in) and bias (out,)."""

    model_config = ConfigDict(extra="forbid")

    weight: list[list[float]] = Field(min_length=1)
    bias: list[float] = Field(min_length=1)


def _shapes(layers: list[LayerConfig]) -> tuple[list, list]:
    weights = []
    for i, layer in enumerate(layers):
        widths = {len(row) for row in layer.weight}
        if len(widths) != 1:
            raise ValueError(f"layer {i}: weight rows have different lengths {sorted(widths)}")
        weights.append((len(layer.weight), widths.pop()))
    return weights, [(len(layer.bias),) for layer in layers]


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class SchedulerConfig(BaseModel):
    """The learned policy's scorer: inline, or `file` (JSON {features, layers}) + `sha256`."""

    model_config = ConfigDict(extra="forbid")

    features: list[str] | None = Field(
        default=None, description="input feature names, in order (cascade.learned)")
    layers: list[LayerConfig] | None = Field(
        default=None, description="dense layers, ReLU between; the last has one output")
    file: str | None = Field(
        default=None, description="JSON file with features and layers (absolute path)")
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="sha256 of `file`")

    @field_validator("layers")
    @classmethod
    def _layers_chain(cls, layers: list[LayerConfig] | None, info: ValidationInfo):
        if layers is None:
            return layers
        features = info.data.get("features")
        if features is None:
            raise ValueError("inline layers need `features` (the input names)")
        check_layers(len(features), *_shapes(layers))
        return layers

    @field_validator("sha256")
    @classmethod
    def _hash_matches(cls, digest: str | None, info: ValidationInfo):
        path = info.data.get("file")
        if path is None:
            return digest
        if digest is None:
            raise ValueError("a scheduler file needs its sha256")
        if not Path(path).is_file():
            raise ValueError(f"scheduler file {path!r} does not exist")
        actual = file_sha256(path)
        if actual != digest:
            raise ValueError(f"sha256 mismatch for {path!r}: file has {actual}")
        return digest

    @model_validator(mode="after")
    def _one_source(self) -> SchedulerConfig:
        inline = self.layers is not None
        if inline == (self.file is not None):
            raise ValueError("give the scheduler either inline `features`+`layers` or a `file`")
        if self.file is not None and self.sha256 is None:
            raise ValueError("sha256: a scheduler file needs its sha256")
        if self.file is not None:
            try:
                raw = json.loads(Path(self.file).read_text())
                Scheduler.from_dict(raw)
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"file: {self.file!r} is not a valid scheduler: {exc}") from None
        return self

    def build(self) -> Scheduler:
        """The numpy scheduler the policy code evaluates."""
        if self.file is not None:
            return Scheduler.from_dict(json.loads(Path(self.file).read_text()))
        return Scheduler.from_dict(self.model_dump())


class KeeperConfig(BaseModel):
    """Online budget keeper: nudges learned thresholds to hold realised cost at the target."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    window: int = Field(default=400, ge=10, description="images in the sliding window")
    update_every: int = Field(default=20, ge=1, description="images between two nudges")
    gain: float = Field(default=0.2, gt=0.0, le=10.0,
                        description="logits of offset per unit of relative cost error")
    max_offset: float = Field(default=3.0, gt=0.0, le=20.0,
                              description="bound on the offset, in logits")
    deadband: float = Field(default=0.02, ge=0.0, lt=1.0,
                            description="relative error below which nothing moves")


class BudgetConfig(BaseModel):
    """Average cost per image the learned thresholds were set for (B)."""

    model_config = ConfigDict(extra="forbid")

    target: float = Field(gt=0.0, description="B, in `unit` per image")
    unit: Literal["device_ms", "usd_per_1k"] = "device_ms"
    keeper: KeeperConfig = Field(default_factory=KeeperConfig)
