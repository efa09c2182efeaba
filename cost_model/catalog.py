"""The GPU class catalog: accelerator names, prices and device models, each with its source."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cost_model.device_model import CallFloor, DeviceModel, ReferenceNetwork

DEFAULT_CATALOG = Path(__file__).with_name("gpu_catalog.yaml")


class GPUClass(BaseModel):
    """One accelerator kind and what an hour of one GPU of it costs."""

    model_config = ConfigDict(extra="forbid")

    accelerator_type: str = Field(description="name used by ray.util.accelerators / node resources")
    memory_gb: float = Field(gt=0)
    price_per_hour_usd: float = Field(gt=0, description="on-demand $ per GPU-hour")
    spot_price_per_hour_usd: float | None = Field(default=None, gt=0)
    price_source: str = Field(min_length=1)
    price_date: str = Field(min_length=4)
    device_model: DeviceModel = Field(description="cited speed figures of the class")

    @property
    def resource_name(self) -> str:
        """The Ray custom resource that nodes of this class advertise."""
        return f"accelerator_type:{self.accelerator_type}"


class GPUCatalog(BaseModel):
    """All GPU classes by name (T4, L4, A100-40GB, ...)."""

    model_config = ConfigDict(extra="forbid")

    reference_network: ReferenceNetwork
    call_floor: CallFloor
    classes: dict[str, GPUClass]

    @field_validator("classes")
    @classmethod
    def _not_empty(cls, value: dict[str, GPUClass]) -> dict[str, GPUClass]:
        if not value:
            raise ValueError("the catalog lists no GPU classes")
        return value

    @model_validator(mode="after")
    def _device_models_consistent(self) -> GPUCatalog:
        for name, gpu in self.classes.items():
            try:
                gpu.device_model.layer_floor_seconds(self.reference_network, self.call_floor)
            except ValueError as exc:
                raise ValueError(f"classes.{name}.device_model: {exc}") from None
        return self

    def get(self, name: str) -> GPUClass:
        try:
            return self.classes[name]
        except KeyError:
            known = ", ".join(sorted(self.classes))
            raise KeyError(f"unknown GPU class {name!r}; known classes: {known}") from None


def load_catalog(path: str | Path | None = None) -> GPUCatalog:
    """Load and validate a catalog YAML (default: `$COE_GPU_CATALOG` or the bundled one)."""
    path = Path(path or os.environ.get("COE_GPU_CATALOG") or DEFAULT_CATALOG)
    return _load_cached(str(path.resolve()))


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> GPUCatalog:
    with open(path) as handle:
        return GPUCatalog.model_validate(yaml.safe_load(handle))
